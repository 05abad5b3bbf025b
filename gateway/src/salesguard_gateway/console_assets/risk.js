// A branch's risk ranking: each employee's score and level, and their signals as bars.

import { gql } from "./api.js";
import { state } from "./state.js";
import { h, replace, s, select } from "./dom.js";
import { label, t } from "./i18n.js";

const BAR_HEIGHT = 14;
const CHART_WIDTH = 260;
const LABEL_WIDTH = 150;

// One bar per signal, its length its contribution to the score (on a shared scale).
export function signalChart(signals, largest, name) {
  const height = Math.max(1, signals.length) * (BAR_HEIGHT + 4);
  const width = LABEL_WIDTH + CHART_WIDTH + 50;
  const title = `${t("signals")}: ${name}`;
  return s(
    "svg",
    { viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-label": title, class: "signals" },
    s("title", {}, title),
    signals.map((signal, index) => {
      const y = index * (BAR_HEIGHT + 4);
      const length = largest > 0 ? (signal.contribution / largest) * CHART_WIDTH : 0;
      return s(
        "g",
        { class: "signal" },
        s("text", { x: 0, y: y + BAR_HEIGHT - 3, class: "signal-kind" }, label(signal.kind)),
        s("rect", { x: LABEL_WIDTH, y, width: Math.max(1, length), height: BAR_HEIGHT, rx: 2 }),
        s("text", { x: LABEL_WIDTH + length + 4, y: y + BAR_HEIGHT - 3 }, signal.contribution.toFixed(1)),
      );
    }),
  );
}

export async function riskPage(main, branchId) {
  const chosen = branchId ? decodeURIComponent(branchId) : state.me?.branch?.id || "";
  const branches = state.branches.filter((branch) => !branch.headquarters);
  const form = h(
    "form",
    { class: "filters", id: "risk-branch" },
    h("div", {}, ...select("risk-branch-choice", t("branch"), branches.map((branch) => [branch.id, branch.name]), chosen, t("any"))),
  );
  form.elements["risk-branch-choice"].addEventListener("change", (event) => {
    location.hash = `#/risk/${encodeURIComponent(event.target.value)}`;
  });
  const data = await gql("HrRiskRanking", { branchId: chosen || null, first: 50 });
  const ranking = data.riskRanking || [];
  const largest = Math.max(0, ...ranking.flatMap((entry) => entry.signals.map((signal) => signal.contribution)));
  const list = h(
    "ol",
    { id: "ranking", class: "ranking" },
    ranking.map((entry) =>
      h(
        "li",
        { class: "card", "data-employee": entry.employee?.id },
        h(
          "div",
          { class: "ranking-head" },
          entry.employee
            ? h("a", { href: `#/employee/${encodeURIComponent(entry.employee.id)}`, class: "employee-link" }, entry.employee.name)
            : "—",
          h("span", { class: "score" }, `${t("score")} `, h("strong", { class: "score-value" }, entry.score.toFixed(1))),
          h("span", { class: `badge level-${entry.level.toLowerCase()}` }, label(entry.level)),
        ),
        signalChart(entry.signals, largest, entry.employee?.name || ""),
      ),
    ),
  );
  replace(main, h("h1", {}, t("risk")), form, ranking.length ? list : h("p", {}, t("none")));
  return null;
}
