// Live alerts with filters, and one alert's decisions (acknowledge, resolve, dismiss).

import { ApiError, gql, subscribe } from "./api.js";
import { branchZone, may, state } from "./state.js";
import { announce, h, replace, select } from "./dom.js";
import { label, t, when } from "./i18n.js";

const KINDS = [
  "LATE_REGISTRATION",
  "DUPLICATE_CUSTOMER_CLAIM",
  "SIMILAR_CUSTOMER",
  "BULK_CONTACT_ACCESS",
  "EXPORT_WITHOUT_APPROVAL",
  "CUSTOMER_NEGLECTED",
  "SHARED_CONTACT_DETAIL",
  "LOCATION_MISMATCH",
  "UNLINKED_CUSTOMER_SITE",
  "IMPOSSIBLE_TRAVEL",
  "MOCK_LOCATION",
  "PHOTO_REUSED",
  "NEW_DEVICE",
  "PHOTO_MISSING_STREAK",
  "UNREGISTERED_SITE_REPEATED",
  "ABNORMAL_CALL_PATTERN",
  "ATTRIBUTION_MISMATCH",
  "UNREGISTERED_CUSTOMER",
  "APPROVAL_DESPITE_WARNING",
  "FAKE_DEAL_SUSPECTED",
  "SHIPMENT_OVERDUE",
  "PAYER_MISMATCH",
  "DIVERSION_RISK",
  "SOURCE_CONFLICT",
];
const SEVERITIES = ["LOW", "MEDIUM", "HIGH", "CRITICAL"];
const STATUSES = ["OPEN", "ACKNOWLEDGED", "RESOLVED", "DISMISSED"];
const PAGE = 25;

function options(values) {
  return values.map((value) => [value, label(value)]);
}

function badge(kind, value) {
  return h("span", { class: `badge ${kind}-${(value || "").toLowerCase()}` }, label(value));
}

function alertRow(alert, fresh = false) {
  const zone = branchZone(alert.employee?.branch?.id);
  return h(
    "tr",
    { "data-alert": alert.id, class: fresh ? "fresh" : null },
    h("td", {}, when(alert.detectedAt, zone)),
    h("td", {}, badge("severity", alert.severity)),
    h("td", { class: "kind" }, label(alert.kind)),
    h(
      "td",
      {},
      h("strong", { class: "alert-title" }, alert.title),
      h("div", { class: "message" }, alert.message),
    ),
    h(
      "td",
      {},
      alert.employee
        ? h("a", { href: `#/employee/${encodeURIComponent(alert.employee.id)}` }, alert.employee.name)
        : "—",
    ),
    h("td", {}, badge("status", alert.status)),
    h("td", {}, h("a", { href: `#/alert/${encodeURIComponent(alert.id)}`, class: "button" }, may("DECIDE_ALERTS") ? t("decide") : t("open"))),
  );
}

function readFilter(form) {
  const value = (name) => form.elements[name].value;
  const filter = {};
  if (value("kind")) filter.kinds = [value("kind")];
  if (value("severity")) filter.severities = [value("severity")];
  if (value("status")) filter.statuses = [value("status")];
  if (value("branch")) filter.branchId = value("branch");
  if (value("employee")) filter.employeeId = value("employee");
  if (value("from")) filter.from = new Date(value("from")).toISOString();
  if (value("to")) filter.to = new Date(value("to")).toISOString();
  return filter;
}

export async function alertsPage(main) {
  const form = h(
    "form",
    { id: "alert-filters", class: "filters", "aria-label": t("alerts") },
    h("div", {}, ...select("kind", t("kind"), options(KINDS), "", t("any"))),
    h("div", {}, ...select("severity", t("severity"), options(SEVERITIES), "", t("any"))),
    h("div", {}, ...select("status", t("status"), options(STATUSES), "", t("any"))),
    h(
      "div",
      {},
      ...select(
        "branch",
        t("branch"),
        state.branches.map((branch) => [branch.id, branch.name]),
        "",
        t("any"),
      ),
    ),
    h("div", {}, ...select("employee", t("employee"), [], "", t("any"))),
    h("div", {}, h("label", { for: "from" }, t("from")), h("input", { type: "datetime-local", id: "from", name: "from" })),
    h("div", {}, h("label", { for: "to" }, t("to")), h("input", { type: "datetime-local", id: "to", name: "to" })),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, t("apply"))),
  );
  const body = h("tbody", { id: "alert-rows" });
  const count = h("p", { id: "alert-count", class: "help" });
  const liveState = h("p", { id: "live-state", class: "help" }, t("reconnecting"));
  const more = h("button", { type: "button", id: "more", hidden: true }, t("more"));
  const table = h(
    "table",
    { id: "alerts" },
    h("caption", { class: "visually-hidden" }, t("alerts")),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        [t("detected"), t("severity"), t("kind"), t("title"), t("employee"), t("status"), ""].map((text) =>
          h("th", { scope: "col" }, text),
        ),
      ),
    ),
    body,
  );
  replace(main, h("h1", {}, t("alerts")), form, liveState, count, h("div", { class: "scroll" }, table), more);

  let after = null;
  let total = 0;
  let filter = {};
  let stop = null;
  // The latest load: the answer to an earlier one (a filter applied before the page
  // finished loading) is dropped, never mixed into the new list and its total.
  let loading = 0;

  async function load(reset) {
    const mine = ++loading;
    if (reset) {
      after = null;
      body.replaceChildren();
    }
    const data = await gql("HrAlerts", { filter, first: PAGE, after });
    if (mine !== loading) return;
    const alerts = data.alerts;
    for (const edge of alerts.edges) body.append(alertRow(edge.node));
    after = alerts.pageInfo.endCursor;
    more.hidden = !alerts.pageInfo.hasNextPage;
    total = alerts.totalCount;
    count.textContent = `${t("total")} ${total}`;
    if (!body.children.length) body.append(h("tr", { class: "empty" }, h("td", { colspan: 7 }, t("none"))));
  }

  function live() {
    if (stop) stop();
    // The subscription takes kinds, severities, the branch and the employee (the server
    // filters); a new alert is OPEN and just detected, so status is checked here and the
    // time range is left to the list.
    const liveFilter = {};
    for (const key of ["kinds", "severities", "branchId", "employeeId"]) if (filter[key]) liveFilter[key] = filter[key];
    stop = subscribe(
      "HrAlertRaised",
      { filter: liveFilter },
      {
        opened: () => {
          liveState.textContent = t("live");
          liveState.dataset.live = "on";
        },
        next: (data) => {
          const alert = data.alertRaised;
          if (filter.statuses && !filter.statuses.includes(alert.status)) return;
          body.querySelector("tr.empty")?.remove();
          body.prepend(alertRow(alert, true));
          total += 1;
          count.textContent = `${t("total")} ${total}`;
          announce(`${t("newAlert")}: ${alert.title}`);
        },
        error: (error) => {
          liveState.textContent = `${t("error")}: ${error.message}`;
        },
      },
    );
  }

  form.elements.branch.addEventListener("change", async () => {
    const employee = form.elements.employee;
    employee.replaceChildren(h("option", { value: "" }, t("any")));
    const chosen = form.elements.branch.value;
    if (!chosen) return;
    const data = await gql("HrBranchEmployees", { branchId: chosen });
    for (const edge of data.employees.edges) employee.append(h("option", { value: edge.node.id }, edge.node.name));
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    filter = readFilter(form);
    await load(true);
    live();
  });
  more.addEventListener("click", () => load(false));

  await load(true);
  live();
  return () => stop && stop();
}

// -- one alert and its decisions -------------------------------------------------------

function historyTable(history, zone) {
  if (!history.length) return h("p", { id: "history", class: "help" }, `${t("history")}: ${t("none")}`);
  return h(
    "table",
    { id: "history" },
    h("caption", {}, t("history")),
    h("thead", {}, h("tr", {}, [t("at"), t("status"), t("resolution"), t("note"), t("by")].map((text) => h("th", { scope: "col" }, text)))),
    h(
      "tbody",
      {},
      history.map((entry) =>
        h(
          "tr",
          {},
          h("td", {}, when(entry.at, zone)),
          h("td", {}, label(entry.status)),
          h("td", {}, label(entry.resolution)),
          h("td", {}, entry.note || ""),
          h("td", {}, entry.by?.name || "—"),
        ),
      ),
    ),
  );
}

function decisionForm(alert, onDecided) {
  const problem = h("p", { id: "decision-error", role: "alert" });
  const note = h("textarea", { id: "note", name: "note", rows: 3, maxlength: 4000 });
  const resolution = h(
    "fieldset",
    {},
    h("legend", {}, t("resolution")),
    ["CONFIRMED", "CLEARED"].map((value) =>
      h(
        "label",
        { class: "choice" },
        h("input", { type: "radio", name: "resolution", value, id: `resolution-${value.toLowerCase()}`, checked: value === "CLEARED" }),
        ` ${t(value.toLowerCase())}`,
      ),
    ),
  );
  const form = h("form", { id: "decision", class: "card" }, h("h2", {}, t("decide")), resolution, h("label", { for: "note" }, t("note")), note, problem);
  async function decide(status) {
    const input = { id: alert.id, status, note: note.value || null };
    if (status === "RESOLVED") input.resolution = form.elements.resolution.value;
    try {
      const data = await gql("HrDecideAlert", { input });
      announce(t("decided"));
      onDecided(data.updateAlert.alert);
    } catch (error) {
      if (error instanceof ApiError && error.forbidden) {
        // The policy refused: offer the action no more.
        form.replaceChildren(h("p", { id: "not-allowed" }, t("notAllowed")));
      } else problem.textContent = `${t("error")}: ${error.message}`;
    }
  }
  const buttons = h("div", { class: "actions" });
  if (alert.status === "OPEN") buttons.append(h("button", { type: "button", id: "acknowledge", onclick: () => decide("ACKNOWLEDGED") }, t("acknowledge")));
  buttons.append(h("button", { type: "button", id: "resolve", class: "primary", onclick: () => decide("RESOLVED") }, t("resolve")));
  buttons.append(h("button", { type: "button", id: "dismiss", onclick: () => decide("DISMISSED") }, t("dismiss")));
  form.append(buttons);
  return form;
}

export async function alertPage(main, id) {
  const data = await gql("HrAlert", { id });
  const alert = data.node;
  const zone = branchZone(alert.employee?.branch?.id);
  function render(current) {
    const open = current.status === "OPEN" || current.status === "ACKNOWLEDGED";
    // Offered when the policy grants the caller decisions at all; one it still refuses
    // on this alert (their own, another branch's) is withdrawn when refused.
    const decidable = open && may("DECIDE_ALERTS");
    replace(
      main,
      h("h1", { id: "alert-heading" }, current.title),
      h(
        "dl",
        { class: "facts" },
        h("dt", {}, t("kind")), h("dd", {}, label(current.kind)),
        h("dt", {}, t("severity")), h("dd", {}, badge("severity", current.severity)),
        h("dt", {}, t("status")), h("dd", { id: "alert-status" }, badge("status", current.status), current.resolution ? ` (${label(current.resolution)})` : ""),
        h("dt", {}, t("detected")), h("dd", {}, when(current.detectedAt, zone)),
        h("dt", {}, t("employee")),
        h("dd", {}, current.employee ? h("a", { href: `#/employee/${encodeURIComponent(current.employee.id)}`, id: "alert-employee" }, current.employee.name) : "—"),
      ),
      h("p", {}, current.message),
      decidable ? decisionForm(current, (decided) => render({ ...current, ...decided })) : null,
      historyTable(current.history || [], zone),
      current.evidence ? h("details", {}, h("summary", {}, t("evidence")), h("pre", {}, JSON.stringify(current.evidence, null, 2))) : null,
    );
  }
  render(alert);
  return null;
}
