// The API's browsable docs: Swagger UI (vendored in static/vendor/swagger-ui/)
// drawing the OpenAPI document named by #swagger-ui's data-spec-url. A static
// file, so the Content-Security-Policy needs no inline script.
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  window.SwaggerUIBundle({
    url: root.dataset.specUrl,
    domNode: root,
    deepLinking: true,
    // Never send the document to the public validator service.
    validatorUrl: null
  });
})();
