// Boots GraphiQL on the gateway's page (graphiql.py). React, ReactDOM and GraphiQL are
// the vendored copies the page loads before this script; nothing comes from elsewhere,
// and the page's Content-Security-Policy allows no inline script, hence this file.
(function () {
  "use strict";
  var container = document.getElementById("graphiql");
  // Queries go to the page's own URL (POST), subscriptions to the same URL over a websocket.
  var url = window.location.href.split(/[?#]/)[0];
  var fetcher = GraphiQL.createFetcher({
    url: url,
    subscriptionUrl: url.replace(/^http/, "ws"),
  });
  ReactDOM.createRoot(container).render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: container.dataset.defaultQuery,
      defaultHeaders: container.dataset.defaultHeaders,
      defaultEditorToolsVisibility: "headers",
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: true,
      inputValueDeprecation: true,
    }),
  );
})();
