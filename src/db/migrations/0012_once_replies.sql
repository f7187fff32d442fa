CREATE TABLE "once_replies" (
	"key" text PRIMARY KEY NOT NULL,
	"delivery_id" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
