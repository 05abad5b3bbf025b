// The console's entry (no other module imports it: loaded under a versioned URL, it
// would be a second instance): sign-in, the pages the API lets the caller use, and a hash router
// (#/alerts, #/risk, #/employee/<id>, #/alert/<id>, #/queue) so nothing reaches a server log.

import { gql, session } from "./api.js";
import { h, replace } from "./dom.js";
import { language, t } from "./i18n.js";
import { alertPage, alertsPage } from "./alerts.js";
import { employeePage } from "./employee.js";
import { queuePage } from "./queue.js";
import { riskPage } from "./risk.js";
import { may, state } from "./state.js";

const main = document.getElementById("main");
const top = document.getElementById("top");

// Each page is offered when the API says the caller may do what it is for: the console
// asks (Query.may, decided by the policy in the services) and never interprets roles.
const PAGES = {
  alerts: { title: "alerts", needs: ["READ_ALERTS"], render: alertsPage },
  risk: { title: "risk", needs: ["READ_RISK"], render: riskPage },
  queue: { title: "queue", needs: ["DECIDE_ORDERS", "DECIDE_EXPORTS"], render: queuePage },
};

function header() {
  if (!state.me) return replace(top, h("h1", { class: "brand" }, t("console")));
  const current = location.hash.split("/")[1] || "";
  return replace(
    top,
    h("span", { class: "brand" }, t("console")),
    h(
      "nav",
      { "aria-label": "Pages" },
      h(
        "ul",
        {},
        state.pages.map((name) =>
          h(
            "li",
            {},
            h(
              "a",
              {
                href: `#/${name}`,
                id: `nav-${name}`,
                "aria-current": current === name ? "page" : null,
              },
              t(PAGES[name].title),
            ),
          ),
        ),
      ),
    ),
    h(
      "span",
      { class: "who" },
      `${t("signedInAs")} `,
      h("strong", { id: "me-name" }, state.me.name),
      " ",
      h("button", { type: "button", id: "sign-out", onclick: signOut }, t("signOut")),
    ),
  );
}

function signOut() {
  session.signOut();
  state.me = null;
  state.may = [];
  state.pages = [];
  location.hash = "#/signin";
  route();
}

function signInPage() {
  const area = h("textarea", {
    id: "token",
    name: "token",
    rows: 4,
    required: true,
    autocomplete: "off",
    spellcheck: "false",
    "aria-describedby": "token-help",
  });
  const problem = h("p", { id: "sign-in-error", role: "alert" });
  const form = h(
    "form",
    { id: "sign-in", class: "card narrow" },
    h("h1", {}, t("signIn")),
    h("label", { for: "token" }, t("token")),
    area,
    h("p", { id: "token-help", class: "help" }, t("tokenHelp")),
    problem,
    h("button", { type: "submit", class: "primary" }, t("signIn")),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    session.signIn(area.value.trim().replace(/^Bearer\s+/i, ""));
    try {
      await start();
      const target = state.pages.length ? `#/${state.pages[0]}` : "#/";
      // A changed hash routes by itself (hashchange); an unchanged one does not.
      if (location.hash === target) route();
      else location.hash = target;
    } catch (error) {
      session.signOut();
      problem.textContent = `${t("error")}: ${error.message}`;
    }
  });
  replace(main, form);
  area.focus();
}

async function start() {
  const data = await gql("HrConsoleMe");
  state.me = data.me;
  state.may = data.may;
  state.pages = Object.keys(PAGES).filter((name) => PAGES[name].needs.some(may));
  state.branches = (await gql("HrBranches")).branches || [];
}

let routing = 0;

// Ends what the previous page left running (its subscription), then renders the hash's
// page; a page that finishes after a newer route began is ended at once.
async function route() {
  const generation = ++routing;
  if (state.cleanup) {
    state.cleanup();
    state.cleanup = null;
  }
  if (!session.token) {
    header();
    return signInPage();
  }
  if (!state.me) {
    try {
      await start();
    } catch (error) {
      session.signOut();
      header();
      return signInPage();
    }
  }
  header();
  const [, name, id] = location.hash.split("/");
  main.setAttribute("aria-busy", "true");
  try {
    let cleanup = null;
    if (name === "employee" && id) cleanup = await employeePage(main, decodeURIComponent(id));
    else if (name === "alert" && id) cleanup = await alertPage(main, decodeURIComponent(id));
    else if (state.pages.includes(name)) cleanup = await PAGES[name].render(main, id);
    if (cleanup && generation !== routing) cleanup();
    else if (cleanup) state.cleanup = cleanup;
    if (name === "employee" || name === "alert" || state.pages.includes(name)) return;
    if (state.pages.length) {
      location.hash = `#/${state.pages[0]}`;
      return;
    } else replace(main, h("p", { id: "nothing" }, t("nothingAllowed")));
  } catch (error) {
    replace(main, h("p", { role: "alert", class: "error" }, `${t("error")}: ${error.message}`));
  } finally {
    main.removeAttribute("aria-busy");
  }
}

document.documentElement.lang = language === "zh" ? "zh-CN" : "en";
document.title = t("console");
document.querySelector(".skip").textContent = t("skip");
window.addEventListener("hashchange", route);
route();
