// devflow console: live fragments, live agent transcripts, charts. No framework and no
// build step; text from runs is only ever set as text (textContent, append of strings).

(() => {
  /**
   * Appends a transcript event to its <pre>, by character offset, so nothing shows
   * twice; false when the page lacks what came before it (it then fetches the whole).
   */
  function appendTranscript(event) {
    const pre = document.querySelector(`pre[data-execution="${CSS.escape(event.id)}"]`);
    if (pre === null) return false;
    const follow = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 8;
    const chars = Array.from(event.text);
    if (event.reset === true) {
      pre.textContent = event.text;
    } else {
      const have = Number(pre.dataset.length || "0");
      if (event.from > have) return false;
      const added = chars.slice(have - event.from).join("");
      if (added === "") return true;
      pre.append(added);
    }
    pre.dataset.length = String(event.from + chars.length);
    if (follow) pre.scrollTop = pre.scrollHeight;
    return true;
  }

  /** Keeps a server-rendered fragment current: refetched whenever its stream says it changed. */
  function live(element) {
    let url = element.dataset.live;
    if (element.id === "run-live") {
      const have = [...element.querySelectorAll("pre[data-execution]")].map(
        (pre) => `${pre.dataset.execution}:${pre.dataset.length || "0"}`,
      );
      url += `${url.includes("?") ? "&" : "?"}have=${encodeURIComponent(have.join(","))}`;
    }
    let busy = false;
    let again = false;
    const refresh = async () => {
      if (busy) {
        again = true;
        return;
      }
      busy = true;
      try {
        const response = await fetch(element.dataset.fragment, { credentials: "same-origin" });
        if (response.status === 401) {
          window.location.assign(`/console/sign-in?next=${encodeURIComponent(location.pathname)}`);
          return;
        }
        if (!response.ok) return;
        const open = new Map(
          [...element.querySelectorAll("details[id]")].map((details) => [details.id, details.open]),
        );
        const scroll = new Map(
          [...element.querySelectorAll("pre[data-execution]")].map((pre) => [
            pre.dataset.execution,
            pre.scrollTop,
          ]),
        );
        // Same-origin HTML the server rendered with everything from runs escaped.
        element.innerHTML = await response.text();
        for (const details of element.querySelectorAll("details[id]")) {
          if (open.has(details.id)) details.open = open.get(details.id);
        }
        for (const pre of element.querySelectorAll("pre[data-execution]")) {
          if (scroll.has(pre.dataset.execution)) pre.scrollTop = scroll.get(pre.dataset.execution);
        }
        element.dispatchEvent(new CustomEvent("devflow:refreshed", { bubbles: true }));
      } finally {
        busy = false;
        if (again) {
          again = false;
          void refresh();
        }
      }
    };
    const source = new EventSource(url);
    source.addEventListener("changed", () => void refresh());
    source.addEventListener("transcript", (message) => {
      if (!appendTranscript(JSON.parse(message.data))) void refresh();
    });
    document.documentElement.dataset.live = "connected";
  }

  function charts() {
    const data = document.getElementById("chart-data");
    if (data === null || typeof window.uPlot !== "function") return;
    const series = JSON.parse(data.textContent);
    const drawn = [];
    for (const element of document.querySelectorAll(".chart[data-series]")) {
      const values = series[element.dataset.series];
      const width = () => Math.max(240, element.clientWidth);
      const plot = new window.uPlot(
        {
          width: width(),
          height: 180,
          legend: { show: false },
          scales: { x: { time: true } },
          series: [
            {},
            {
              label: element.dataset.label,
              stroke: "#2f6feb",
              fill: "rgba(47,111,235,0.12)",
              width: 2,
              spanGaps: true,
              // An hour with a single value still shows.
              points: { show: true, size: 5 },
            },
          ],
          axes: [{ stroke: "#57606a" }, { stroke: "#57606a", size: 48 }],
        },
        [series.hours, values],
        element,
      );
      drawn.push([plot, width]);
    }
    window.addEventListener("resize", () => {
      for (const [plot, width] of drawn) plot.setSize({ width: width(), height: 180 });
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    for (const element of document.querySelectorAll("[data-live]")) live(element);
    charts();
  });
})();
