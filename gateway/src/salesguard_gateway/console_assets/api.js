// The GraphQL client of the console: committed operations only, by their hash over HTTP
// (so the gateway's registered-only mode serves it) and by their registered text over
// graphql-transport-ws. The token is sent as a bearer header, never in a URL or cookie.

const OPERATIONS = JSON.parse(document.getElementById("operations").textContent);
const TOKEN_KEY = "salesguard.console.token";
const ENDPOINT = new URL("graphql", document.baseURI);

// sessionStorage: the token survives a reload of this tab and ends with the tab.
export const session = {
  get token() {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  signIn(token) {
    sessionStorage.setItem(TOKEN_KEY, token);
  },
  signOut() {
    sessionStorage.removeItem(TOKEN_KEY);
  },
};

export class ApiError extends Error {
  constructor(errors) {
    super(errors.map((error) => error.message).join("; "));
    this.codes = errors.map((error) => error.extensions?.code).filter(Boolean);
  }

  get forbidden() {
    return this.codes.some((code) => code === "FORBIDDEN" || code === "UNAUTHENTICATED");
  }
}

function operation(name) {
  const found = OPERATIONS[name];
  if (!found) throw new Error(`${name} is not one of the console's operations`);
  return found;
}

// Runs a query or mutation; throws ApiError when a root field failed (a field deeper
// down that failed, e.g. one masked away, leaves the rest of the answer usable).
export async function gql(name, variables = {}) {
  const response = await fetch(ENDPOINT, {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      Accept: "application/graphql-response+json, application/json",
      Authorization: `Bearer ${session.token}`,
    },
    body: JSON.stringify({
      operationName: name,
      variables,
      extensions: { persistedQuery: { version: 1, sha256Hash: operation(name).id } },
    }),
    credentials: "omit",
    cache: "no-store",
  });
  let body;
  try {
    body = await response.json();
  } catch {
    throw new ApiError([{ message: `HTTP ${response.status}` }]);
  }
  const errors = body.errors || [];
  const data = body.data;
  const rootFailed = !data || Object.values(data).some((value) => value === null);
  if (errors.length && rootFailed) throw new ApiError(errors);
  if (errors.length) console.warn(name, errors);
  return data;
}

// A live subscription over graphql-transport-ws; reconnects after a lost connection.
// Returns a function that ends it.
export function subscribe(name, variables, { next, error, opened }) {
  const url = new URL(ENDPOINT);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  let socket = null;
  let ended = false;
  let retry = 1000;

  function connect() {
    socket = new WebSocket(url, "graphql-transport-ws");
    socket.addEventListener("open", () => {
      socket.send(
        JSON.stringify({
          type: "connection_init",
          payload: { Authorization: `Bearer ${session.token}` },
        }),
      );
    });
    socket.addEventListener("message", (event) => {
      const message = JSON.parse(event.data);
      if (message.type === "connection_ack") {
        retry = 1000;
        socket.send(
          JSON.stringify({
            id: "1",
            type: "subscribe",
            payload: { operationName: name, query: operation(name).body, variables },
          }),
        );
        if (opened) opened();
      } else if (message.type === "ping") {
        socket.send(JSON.stringify({ type: "pong" }));
      } else if (message.type === "next") {
        if (message.payload.errors?.length) error(new ApiError(message.payload.errors));
        else next(message.payload.data);
      } else if (message.type === "error") {
        error(new ApiError(message.payload));
      }
    });
    socket.addEventListener("close", () => {
      if (ended) return;
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 30000);
    });
  }

  connect();
  return () => {
    ended = true;
    if (socket) socket.close(1000);
  };
}
