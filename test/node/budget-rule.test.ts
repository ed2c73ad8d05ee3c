/** The budget rule and the ledger's time-zone arithmetic, pure (issue 14). */
import { describe, expect, it } from "vitest";
import { figuresFrom, periods, verdict, warnings, withUnfinishedCost, type SpendRow } from "../../core/domain/budget-rule.ts";
import { localDay, startOfLocalDay } from "../../core/domain/local-day.ts";

const row = (over: Partial<SpendRow>): SpendRow => ({ ch_daily: null, ch_monthly: null, g_daily: null, g_monthly: null, ch_day: null, ch_month: null, g_day: null, g_month: null, ...over });

describe("budget rule", () => {
  it("no caps: a run starts and nothing warns", () => {
    const f = figuresFrom(row({}));
    expect(verdict(f)).toEqual({ start: true });
    expect(warnings(f)).toEqual([]);
  });

  it("a run starts below every cap, and not once spend has reached one (a cap of 0 stops everything)", () => {
    expect(verdict(figuresFrom(row({ ch_daily: 1, ch_day: 0.999 }))).start).toBe(true);
    expect(verdict(figuresFrom(row({ ch_daily: 1, ch_day: 1 })))).toMatchObject({ start: false, reason: "over budget: the channel's daily budget: $1.00 spent of $1.00 today (UTC)" });
    expect(verdict(figuresFrom(row({ g_monthly: 0, g_month: 0 })))).toMatchObject({ start: false, cap: { scope: "global", period: "monthly" } });
    // The first exhausted cap is the reason, whichever order they were set in.
    expect(verdict(figuresFrom(row({ ch_daily: 10, ch_day: 2, g_daily: 1, g_day: 2 })))).toMatchObject({ start: false, cap: { scope: "global", period: "daily" } });
  });

  it("warns at 80 % and past the cap, never for a cap of 0", () => {
    expect(warnings(figuresFrom(row({ ch_daily: 1, ch_day: 0.79 })))).toEqual([]);
    expect(warnings(figuresFrom(row({ ch_daily: 1, ch_day: 0.8, ch_monthly: 100, ch_month: 0.8 })))).toEqual([{ scope: "channel", period: "daily", capUsd: 1, spentUsd: 0.8 }]);
    expect(warnings(figuresFrom(row({ g_daily: 0, g_day: 0 })))).toEqual([]);
  });

  it("a resumed run's own unfinished cost counts against every cap", () => {
    const f = figuresFrom(row({ ch_daily: 1, ch_day: 0.5, g_monthly: 10, g_month: 2 }));
    expect(verdict(withUnfinishedCost(f, 0.4)).start).toBe(true);
    const over = verdict(withUnfinishedCost(f, 0.5));
    expect(over).toMatchObject({ start: false, cap: { scope: "channel", period: "daily", spentUsd: 1 } });
    expect(withUnfinishedCost(f, null)).toBe(f);
    expect(withUnfinishedCost(f, 0.4).caps.find((c) => c.scope === "global")!.spentUsd).toBeCloseTo(2.4);
  });

  it("periods are the UTC day and month, with their keys", () => {
    const p = periods(Date.UTC(2026, 11, 31, 23, 59));
    expect(p).toEqual({
      dayStart: Date.UTC(2026, 11, 31),
      dayEnd: Date.UTC(2027, 0, 1),
      monthStart: Date.UTC(2026, 11, 1),
      monthEnd: Date.UTC(2027, 0, 1),
      dayKey: "2026-12-31",
      monthKey: "2026-12",
    });
  });
});

describe("ledger days in a time zone", () => {
  it("a local day starts at local midnight, across daylight saving and odd offsets", () => {
    expect(startOfLocalDay("2026-03-29", "Europe/Berlin")).toBe(Date.UTC(2026, 2, 28, 23)); // CET, the day clocks go forward
    expect(startOfLocalDay("2026-03-30", "Europe/Berlin")).toBe(Date.UTC(2026, 2, 29, 22)); // CEST
    expect(startOfLocalDay("2026-06-01", "Asia/Kathmandu")).toBe(Date.UTC(2026, 4, 31, 18, 15)); // +05:45
    expect(startOfLocalDay("2026-06-01", "UTC")).toBe(Date.UTC(2026, 5, 1));
    // Midnight does not exist in Santiago on the spring-forward day: the day starts at 01:00.
    expect(localDay(startOfLocalDay("2026-09-06", "America/Santiago"), "America/Santiago")).toBe("2026-09-06");
    expect(localDay(startOfLocalDay("2026-09-06", "America/Santiago") - 1, "America/Santiago")).toBe("2026-09-05");
  });
});
