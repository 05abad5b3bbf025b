// One employee's evidence: their risk, their timeline newest first, and each check-in on
// a plot in metres around the customer's registered site (no map tiles, so offline).

import { gql } from "./api.js";
import { may } from "./state.js";
import { h, replace, s } from "./dom.js";
import { label, metres, t, when } from "./i18n.js";
import { signalChart } from "./risk.js";

const DAYS = 30;
const PLOT = 240; // px, the plot's side
const EARTH_RADIUS_M = 6371008.8;
const DEFAULT_RADIUS_M = 300; // the attendance service's default geofence

// Metres east and north of `origin` (an equirectangular projection: exact enough at the
// scale of a geofence).
function offsetMetres(origin, point) {
  const rad = Math.PI / 180;
  const east = (point.lng - origin.lng) * rad * Math.cos(origin.lat * rad) * EARTH_RADIUS_M;
  const north = (point.lat - origin.lat) * rad * EARTH_RADIUS_M;
  return { east, north };
}

function reasonDetail(checkIn, key) {
  for (const reason of checkIn.reasons) if (reason.detail && reason.detail[key] !== undefined) return reason.detail[key];
  return undefined;
}

// A round number of metres for the scale bar: 1, 2 or 5 × 10^n, about a quarter of the plot.
function scaleLength(halfSpan) {
  const target = halfSpan / 2;
  const power = 10 ** Math.floor(Math.log10(target));
  return [5, 2, 1].map((step) => step * power).find((length) => length <= target) || power;
}

export function checkInMap(checkIn, fallbackRadius) {
  const site = checkIn.customer?.location;
  const point = checkIn.location;
  const title = `${t("checkIn")} ${when(checkIn.at)}`;
  if (!site || !point) {
    return h("p", { class: "help no-site" }, t("noSite"), point ? ` (${point.lat.toFixed(5)}, ${point.lng.toFixed(5)})` : "");
  }
  const radius = reasonDetail(checkIn, "radius_m") ?? fallbackRadius ?? DEFAULT_RADIUS_M;
  const { east, north } = offsetMetres(site, point);
  const distance = reasonDetail(checkIn, "distance_m") ?? Math.hypot(east, north);
  const half = Math.max(radius, Math.hypot(east, north), checkIn.accuracyM || 0) * 1.25;
  const scale = PLOT / 2 / half;
  const x = east * scale;
  const y = -north * scale; // SVG's y grows southwards
  const bar = scaleLength(half);
  const outside = distance > radius;
  return s(
    "svg",
    {
      viewBox: `${-PLOT / 2} ${-PLOT / 2} ${PLOT} ${PLOT}`,
      width: PLOT,
      height: PLOT,
      role: "img",
      "aria-label": `${title}: ${t("distance")} ${metres(distance)}, ${t("geofence")} ${metres(radius)}`,
      class: `map ${outside ? "outside" : "inside"}`,
      "data-distance": distance.toFixed(1),
    },
    s("title", {}, title),
    s("rect", { x: -PLOT / 2, y: -PLOT / 2, width: PLOT, height: PLOT, class: "map-ground" }),
    s("circle", { cx: 0, cy: 0, r: radius * scale, class: "geofence" }),
    s("line", { x1: 0, y1: 0, x2: x, y2: y, class: "distance-line" }),
    checkIn.accuracyM ? s("circle", { cx: x, cy: y, r: checkIn.accuracyM * scale, class: "accuracy" }) : null,
    s("rect", { x: -5, y: -5, width: 10, height: 10, class: "site" }, s("title", {}, t("site"))),
    s("circle", { cx: x, cy: y, r: 5, class: "reported" }, s("title", {}, t("reported"))),
    s("text", { x: x / 2 + 4, y: y / 2 - 4, class: "distance-label" }, metres(distance)),
    s("text", { x: -PLOT / 2 + 6, y: -PLOT / 2 + 14, class: "north" }, "N ↑"),
    s(
      "g",
      { class: "scale" },
      s("line", { x1: -PLOT / 2 + 10, y1: PLOT / 2 - 12, x2: -PLOT / 2 + 10 + bar * scale, y2: PLOT / 2 - 12 }),
      s("text", { x: -PLOT / 2 + 10, y: PLOT / 2 - 16 }, metres(bar)),
    ),
  );
}

// The plot's facts in words, which also serve as its legend.
function distanceLine(checkIn, fallbackRadius) {
  const site = checkIn.customer?.location;
  if (!site || !checkIn.location) return null;
  const radius = reasonDetail(checkIn, "radius_m") ?? fallbackRadius ?? DEFAULT_RADIUS_M;
  const { east, north } = offsetMetres(site, checkIn.location);
  const distance = reasonDetail(checkIn, "distance_m") ?? Math.hypot(east, north);
  return h(
    "p",
    { class: "legend" },
    h("span", { class: "key key-site", "aria-hidden": "true" }),
    ` ${t("site")} · `,
    h("span", { class: "key key-reported", "aria-hidden": "true" }),
    ` ${t("reported")} · ${t("distance")} `,
    h("strong", { class: "distance" }, metres(distance)),
    ` · ${t("geofence")} ${metres(radius)}`,
  );
}

function photoDialog() {
  let dialog = document.getElementById("photo-dialog");
  if (!dialog) {
    dialog = h(
      "dialog",
      { id: "photo-dialog", "aria-label": t("photo") },
      h("img", { id: "photo-image", alt: "" }),
      h("form", { method: "dialog" }, h("button", { type: "submit", id: "photo-close" }, t("close"))),
    );
    document.body.append(dialog);
  }
  return dialog;
}

function showPhoto(photo, name) {
  const dialog = photoDialog();
  const image = dialog.querySelector("img");
  image.alt = `${t("photo")}: ${name}`;
  // A signed URL of limited life: fetched only now, on the click.
  image.src = photo.url;
  dialog.showModal();
}

function checkInCard(checkIn, fallbackRadius, zone) {
  return h(
    "div",
    { class: "check-in", "data-check-in": checkIn.id },
    checkInMap(checkIn, fallbackRadius),
    h(
      "div",
      { class: "check-in-facts" },
      h("p", {}, h("span", { class: `badge verdict-${(checkIn.verdict || "").toLowerCase()}` }, label(checkIn.verdict)), " ", checkIn.customer ? `${t("customer")}: ${checkIn.customer.name}` : ""),
      distanceLine(checkIn, fallbackRadius),
      h("ul", { class: "reasons", "aria-label": t("reasons") }, checkIn.reasons.map((reason) => h("li", { "data-code": reason.code }, h("strong", {}, label(reason.code)), ": ", reason.message))),
      h(
        "div",
        { class: "photos" },
        checkIn.photos.map((photo, index) =>
          h("button", { type: "button", class: "photo-button", onclick: () => showPhoto(photo, `${label(checkIn.verdict)} ${when(checkIn.at, zone)}`) }, `${t("photo")} ${index + 1}`),
        ),
      ),
    ),
  );
}

function itemBody(node, fallbackRadius, zone) {
  switch (node.__typename) {
    case "CheckInItem":
      return checkInCard(node.checkIn, fallbackRadius, zone);
    case "AlertItem":
      return h("p", {}, h("a", { href: `#/alert/${encodeURIComponent(node.alert.id)}` }, node.alert.title), " — ", label(node.alert.status));
    case "OrderItem":
      return h("p", {}, `${node.order.code} ${label(node.order.status)}`);
    case "FollowUpItem":
      return h("p", {}, `${node.followUp.customer?.name || ""}: ${node.followUp.note || ""}`);
    case "CallItem":
      return h("p", {}, `${label(node.call.direction)} ${node.call.number}`);
    case "ApprovalItem":
      return h("p", {}, `${node.orderCode}: ${label(node.step.status)} ${node.step.comment || ""}`);
    case "PaymentItem":
      return h("p", {}, `${node.payment.order?.code || ""} ${node.payment.amount.amount} ${node.payment.amount.currency}`);
    case "ShipmentItem":
      return h("p", {}, `${node.shipment.order?.code || ""} ${node.shipment.trackingNumber || ""}`);
    case "AuditEventItem":
      return h("p", {}, node.event.action);
    default:
      return null;
  }
}

export async function employeePage(main, id) {
  const now = new Date();
  const from = new Date(now.getTime() - DAYS * 86400000);
  const [person, risk, timeline] = await Promise.all([
    gql("HrEmployee", { id }),
    may("READ_RISK") ? gql("HrEmployeeRisk", { employeeId: id }) : null,
    may("READ_TIMELINES")
      ? gql("HrEmployeeTimeline", { employeeId: id, from: from.toISOString(), to: now.toISOString(), first: 100 })
      : null,
  ]);
  const employee = person.employee;
  const zone = employee.branch?.timeZone;
  const fallbackRadius = employee.branch?.geofenceRadiusM;
  const items = timeline ? timeline.employeeTimeline.edges.map((edge) => edge.node) : [];
  items.sort((a, b) => new Date(b.at) - new Date(a.at)); // newest first
  const riskPanel = risk?.employeeRisk
    ? h(
        "section",
        { class: "card", id: "employee-risk", "aria-labelledby": "risk-heading" },
        h("h2", { id: "risk-heading" }, t("risk")),
        h("p", {}, `${t("score")} `, h("strong", { id: "employee-score" }, risk.employeeRisk.score.toFixed(1)), " ", h("span", { class: `badge level-${risk.employeeRisk.level.toLowerCase()}` }, label(risk.employeeRisk.level))),
        signalChart(risk.employeeRisk.signals, Math.max(0, ...risk.employeeRisk.signals.map((signal) => signal.contribution)), employee.name),
        h("h3", {}, t("evidence")),
        h(
          "ul",
          { id: "evidence" },
          risk.employeeRisk.evidence.map((alert) =>
            h(
              "li",
              {},
              h("a", { href: `#/alert/${encodeURIComponent(alert.id)}`, "data-alert": alert.id }, alert.title),
              " — ",
              label(alert.status),
              " · ",
              when(alert.detectedAt, zone),
            ),
          ),
        ),
      )
    : null;
  replace(
    main,
    h("h1", { id: "employee-heading" }, employee.name),
    h("p", { class: "help" }, [employee.branch?.name, employee.team?.name].filter(Boolean).join(" · ")),
    riskPanel,
    timeline ? h("h2", {}, t("timeline")) : null,
    !timeline ? null : h(
      "ol",
      { id: "timeline", class: "timeline" },
      items.length
        ? items.map((node) =>
            h("li", { "data-kind": node.kind }, h("div", { class: "when" }, when(node.at, zone), " · ", label(node.kind)), itemBody(node, fallbackRadius, zone)),
          )
        : h("li", {}, t("none")),
    ),
  );
  return null;
}
