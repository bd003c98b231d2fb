// A scripted HttpClient for tests: records every request and answers from a
// handler the test sets.
#pragma once

#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "auth/http_client.h"

namespace wgate::auth::testing {

struct RecordedRequest {
  std::string method;  // "GET", "POST form", "POST json"
  std::string url;
  FormFields fields;   // for POST form
  std::string body;    // for POST json
  HttpHeaders headers;

  std::string field(const std::string& name) const {
    for (const auto& [n, v] : fields) {
      if (n == name) return v;
    }
    return "(absent)";
  }
  bool has_field(const std::string& name) const { return field(name) != "(absent)"; }
  std::string header(const std::string& name) const {
    for (const auto& [n, v] : headers) {
      if (n == name) return v;
    }
    return "(absent)";
  }
};

inline HttpResponse json_response(int status, const std::string& body) {
  return HttpResponse{status, body, "application/json"};
}

class FakeHttpClient : public HttpClient {
 public:
  using Handler = std::function<Result<HttpResponse>(const RecordedRequest&)>;

  void set_handler(Handler h) {
    std::lock_guard lock(mu_);
    handler_ = std::move(h);
  }
  std::vector<RecordedRequest> requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }
  // How many requests went to `url`.
  size_t count(const std::string& url) const {
    std::lock_guard lock(mu_);
    size_t n = 0;
    for (const auto& r : requests_) n += r.url == url;
    return n;
  }

  Result<HttpResponse> get(const std::string& url, const HttpHeaders& headers) override {
    return record({"GET", url, {}, "", headers});
  }
  Result<HttpResponse> post_form(const std::string& url, const FormFields& fields,
                                 const HttpHeaders& headers) override {
    return record({"POST form", url, fields, "", headers});
  }
  Result<HttpResponse> post_json(const std::string& url, const std::string& json_text,
                                 const HttpHeaders& headers) override {
    return record({"POST json", url, {}, json_text, headers});
  }

 private:
  Result<HttpResponse> record(RecordedRequest r) {
    Handler h;
    {
      std::lock_guard lock(mu_);
      requests_.push_back(r);
      h = handler_;
    }
    if (!h) return make_error("FakeHttpClient: no handler");
    return h(r);
  }

  mutable std::mutex mu_;
  Handler handler_;
  std::vector<RecordedRequest> requests_;
};

}  // namespace wgate::auth::testing
