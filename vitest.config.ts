import { mkdirSync } from "node:fs";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

export default defineConfig(async () => {
  const migrations = await readD1Migrations("migrations");
  // wrangler.toml serves dist/dashboard as assets, and the workerd pool refuses a missing
  // directory; `npm test` builds it, this keeps a bare `vitest run` working too.
  mkdirSync("dist/dashboard", { recursive: true });
  return {
    test: {
      reporters: ["default", "./test/support/summary-reporter.ts"],
      projects: [
        {
          plugins: [
            // The fake Discord API and the interaction signing key come from the global
            // setup (test/fakes/discord-global-setup.ts), which runs in Node first.
            cloudflareTest(({ inject }) => ({
              wrangler: { configPath: "./wrangler.toml" },
              miniflare: {
                bindings: {
                  TEST_MIGRATIONS: migrations,
                  ADMIN_TOKEN: "test-admin-token-0123456789",
                  DISCORD_API_BASE: inject("discordApiBase"),
                  DISCORD_PUBLIC_KEY: inject("discordPublicKey"),
                  DISCORD_BOT_TOKEN: "test-bot-token",
                  TEST_DISCORD_PRIVATE_JWK: inject("discordPrivateJwk"),
                  LOG_LEVEL: "error",
                },
              },
            })),
          ],
          test: {
            name: "worker",
            include: ["test/worker/**/*.test.ts"],
            setupFiles: ["test/worker/setup.ts"],
            globalSetup: ["test/fakes/discord-global-setup.ts"],
            // Tests that wait on an alarm or the Discord pump take about a second on a quiet
            // machine; on two busy cores the 5 s default cut one short. Waits, not assertions.
            testTimeout: 20_000,
          },
        },
        {
          test: {
            name: "node",
            environment: "node",
            include: ["test/runner/**/*.test.ts", "test/node/**/*.test.ts", "test/e2e/**/*.test.ts"],
            testTimeout: 120_000,
            hookTimeout: 300_000,
          },
        },
      ],
    },
  };
});
