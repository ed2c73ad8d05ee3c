import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

export default defineConfig(async () => {
  const migrations = await readD1Migrations("migrations");
  return {
    test: {
      projects: [
        {
          plugins: [
            cloudflareTest({
              wrangler: { configPath: "./wrangler.toml" },
              miniflare: {
                bindings: {
                  TEST_MIGRATIONS: migrations,
                  ADMIN_TOKEN: "test-admin-token-0123456789",
                  DISCORD_API_BASE: "http://127.0.0.1:9/api/v10",
                  LOG_LEVEL: "error",
                },
              },
            }),
          ],
          test: {
            name: "worker",
            include: ["test/worker/**/*.test.ts"],
            setupFiles: ["test/worker/setup.ts"],
          },
        },
        {
          test: {
            name: "node",
            environment: "node",
            include: ["test/runner/**/*.test.ts", "test/node/**/*.test.ts"],
            testTimeout: 120_000,
            hookTimeout: 300_000,
          },
        },
      ],
    },
  };
});
