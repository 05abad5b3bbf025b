// The manager's approvals: orders awaiting their decision, and the pending export requests
// they may decide (exportRequests with awaitingMyDecision: their branch's, not their own,
// which another manager decides; should the API still refuse one, its buttons are withdrawn).

import { ApiError, gql } from "./api.js";
import { announce, h, replace } from "./dom.js";
import { t, when } from "./i18n.js";
import { may, state } from "./state.js";

function money(value) {
  return value ? `${value.amount} ${value.currency}` : "";
}

function decisionButtons(prefix, decide) {
  const comment = h("input", { type: "text", id: `${prefix}-comment`, name: "comment" });
  return h(
    "div",
    { class: "actions" },
    h("label", { for: `${prefix}-comment` }, t("comment")),
    comment,
    h("button", { type: "button", class: "primary", id: `${prefix}-approve`, onclick: () => decide(true, comment.value) }, t("approve")),
    h("button", { type: "button", id: `${prefix}-reject`, onclick: () => decide(false, comment.value) }, t("reject")),
  );
}

function orderCard(order, refresh) {
  const zone = state.me?.branch?.timeZone;
  const problem = h("p", { role: "alert" });
  const card = h(
    "li",
    { class: "card", "data-order": order.id },
    h("h3", {}, order.code, " — ", order.customer?.name || ""),
    h("p", {}, `${t("total_")}: ${money(order.total)} · ${t("by")}: ${order.submittedBy?.name || "—"} · ${when(order.submittedAt, zone)}`),
    h("ul", {}, order.lines.map((line) => h("li", {}, `${line.quantity} × ${line.description || line.sku} (${money(line.lineTotal)})`))),
    order.flags?.length ? h("p", { class: "flags" }, order.flags.join(", ")) : null,
    problem,
  );
  card.append(
    decisionButtons(`order-${order.code}`, async (approve, comment) => {
      try {
        await gql("ManagerDecideOrder", { input: { orderId: order.id, approve, comment: comment || null } });
        announce(t("decided"));
        refresh();
      } catch (error) {
        if (error instanceof ApiError && error.forbidden) card.querySelector(".actions").remove();
        problem.textContent = `${t("error")}: ${error.message}`;
      }
    }),
  );
  return card;
}

function exportCard(request) {
  const zone = state.me?.branch?.timeZone;
  const problem = h("p", { role: "alert" });
  const card = h(
    "li",
    { class: "card", "data-export": request.id },
    h("h3", {}, `${t("requester")}: ${request.requester?.name || "—"} · ${t("customers")}: ${request.customerCount}`),
    h("p", {}, `${t("status")}: ${request.status} · ${t("at")}: ${when(request.requestedAt, zone)}`),
    h("p", {}, `${t("reason")}: ${request.reason}`),
    request.decisionComment ? h("p", {}, `${t("comment")}: ${request.decisionComment}`) : null,
    problem,
  );
  if (request.status === "PENDING") {
    card.append(
      decisionButtons(`export-${request.id}`, async (approve, comment) => {
        try {
          const data = await gql("ManagerDecideExport", { input: { id: request.id, approve, comment: comment || null } });
          card.replaceWith(exportCard(data.decideExportRequest.exportRequest));
          announce(t("decided"));
        } catch (error) {
          if (error instanceof ApiError && error.forbidden) card.querySelector(".actions")?.remove();
          problem.textContent = `${t("error")}: ${error.message}`;
        }
      }),
    );
  }
  return card;
}

export async function queuePage(main) {
  const orders = h("ol", { id: "orders", class: "queue" });
  async function refresh() {
    const data = await gql("ManagerOrdersAwaitingDecision", { first: 50 });
    const edges = data.orders.edges;
    replace(orders, edges.length ? edges.map((edge) => orderCard(edge.node, refresh)) : h("li", {}, t("none")));
  }
  const exports = h("ol", { id: "exports", class: "queue" });
  async function refreshExports() {
    const data = await gql("ManagerExportRequestsAwaitingDecision", { first: 50 });
    const edges = data.exportRequests.edges;
    replace(exports, edges.length ? edges.map((edge) => exportCard(edge.node)) : h("li", {}, t("none")));
  }
  replace(
    main,
    h("h1", {}, t("queue")),
    may("DECIDE_ORDERS") ? [h("h2", {}, t("ordersAwaiting")), orders] : null,
    may("DECIDE_EXPORTS") ? [h("h2", {}, t("exportsAwaiting")), exports] : null,
  );
  await Promise.all([may("DECIDE_ORDERS") ? refresh() : null, may("DECIDE_EXPORTS") ? refreshExports() : null]);
  return null;
}
