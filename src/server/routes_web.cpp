// GET /: the web chat page, built into the binary from src/server/web/chat.html.
#include <httplib.h>

#include "server/http_server.h"
#include "server/web/chat_html.h"

namespace pensieve::server {

void HttpServer::add_web_routes() {
  http_->Get("/", [](const httplib::Request&, httplib::Response& res) {
    // The page's own inline script and style, requests to this server only: nothing it shows
    // (model output) can pull in scripts or send data elsewhere.
    res.set_header("Content-Security-Policy",
                   "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                   "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'");
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_header("Cache-Control", "no-cache");
    res.set_content(std::string(embedded::kChatHtml), "text/html; charset=utf-8");
  });
}

}  // namespace pensieve::server
