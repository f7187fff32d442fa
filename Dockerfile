# devflow's two images, from one base (BASE_IMAGE must have Node.js >= 22.18 and npm;
# git is installed when it lacks it):
#   docker build --target app    -t devflow .          the app: `devflow start` / `devflow worker`
#   docker build --target runner -t devflow-runner .   where agents run (DEVFLOW_RUNNER=docker)
# The classic builder builds every stage before --target: build the app with
# --build-arg AGENT_CLIS= to skip installing agent CLIs it does not need.
ARG BASE_IMAGE=node:24-bookworm-slim

FROM ${BASE_IMAGE} AS base
RUN set -e; \
    if ! command -v git >/dev/null; then \
      apt-get update && apt-get install -y --no-install-recommends git ca-certificates \
      && rm -rf /var/lib/apt/lists/*; \
    fi; \
    node --version; git --version

FROM base AS runner
# Which agent CLIs to install (each needs the network at build time): any of
# claude-code, codex, aider, separated by commas; empty for none.
ARG AGENT_CLIS=claude-code,codex,aider
ARG CLAUDE_CODE_VERSION=latest
ARG CODEX_VERSION=latest
RUN set -e; \
    case ",${AGENT_CLIS}," in *,claude-code,*) npm install -g "@anthropic-ai/claude-code@${CLAUDE_CODE_VERSION}" ;; esac; \
    case ",${AGENT_CLIS}," in *,codex,*) npm install -g "@openai/codex@${CODEX_VERSION}" ;; esac; \
    case ",${AGENT_CLIS}," in *,aider,*) \
      apt-get update && apt-get install -y --no-install-recommends pipx && rm -rf /var/lib/apt/lists/* \
      && PIPX_HOME=/opt/pipx PIPX_BIN_DIR=/usr/local/bin pipx install aider-chat ;; esac; \
    node --version; git --version
# The scripted agent runs here exactly as a real agent CLI would.
COPY src/agents/scripted/ /opt/devflow/agents/scripted/
# Agents run as an unprivileged user (uid 1000), on a read-only root file system
# with tmpfs for /tmp and the home directory; devflow mounts the workspace, the
# execution's directory and its egress proxy's socket, and nothing else.
RUN mkdir -p /workspace /home/agent /devflow && chown 1000:1000 /workspace /home/agent
USER 1000:1000
ENV HOME=/home/agent
WORKDIR /workspace
CMD ["node", "/opt/devflow/agents/scripted/cli.ts"]

FROM base AS app
WORKDIR /opt/devflow
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY bin ./bin
COPY src ./src
COPY jobs ./jobs
COPY schemas ./schemas
COPY templates ./templates
ENV NODE_ENV=production DEVFLOW_DATA_DIR=/var/lib/devflow
VOLUME /var/lib/devflow
EXPOSE 3000
ENTRYPOINT ["node", "bin/devflow.js"]
CMD ["start"]
