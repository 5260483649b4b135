// The same command lines through libcurl and through `quiver`, against the same `quiver serve`: the
// status, the body (httpbin's echo of what the server saw) and the exit code must agree. curl is the
// reference for what a flag means.
//
// The `curl` program on the machine cannot speak HTTP/3 (Debian's is built on OpenSSL without it), so
// each row states the libcurl options curl's command-line tool sets for its flags (tool_getparam.c /
// tool_operate.c): the tool-level meaning (-d's CR/LF stripping, --data-urlencode, -G, --json's
// headers) is written down here once and checked against quiver's; libcurl (the GnuTLS + ngtcp2 build)
// does the protocol work and decides status and exit code.
#include <curl/curl.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <regex>

#include "cli/cli_fixture.hpp"
#include "cli/serve_process.hpp"

namespace quiver::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

// The libcurl options one curl command line amounts to.
struct CurlCall {
  std::string target;  // appended to the server's origin
  std::optional<std::string> absolute_url;  // instead of origin + target (another host)
  std::optional<std::string> ca_file;       // instead of the test CA
  std::optional<std::string> custom_request, post_fields, user_pwd, user_agent, referer, cookie, range;
  std::vector<std::string> headers;
  std::vector<std::pair<std::string, std::string>> mime_text;   // -F name=value
  std::vector<std::pair<std::string, std::string>> mime_files;  // -F name=@path
  std::optional<std::string> upload_file;
  std::optional<curl_off_t> resume_from;
  std::optional<long> timeout_ms;
  bool nobody = false, fail = false;
};

enum class Compare { json_echo, bytes, nothing };

struct Row {
  std::string name;
  std::vector<std::string> quiver_args;  // "{dir}" stands for the row's temp directory; URL last
  CurlCall curl;
  Compare compare = Compare::json_echo;
  bool output_file = false;  // quiver writes to {dir}/out (its body is read from there)
  std::string quiver_target;  // "{url}" for quiver when it differs from libcurl's (-G builds the query)
  std::optional<int> quiver_exit;  // a known, documented difference from this libcurl build's exit code
};

struct Outcome {
  int exit_code = -1;
  long status = 0;
  std::string body;
  std::string error;
};

std::size_t append(char* data, std::size_t size, std::size_t count, void* into) {
  static_cast<std::string*>(into)->append(data, size * count);
  return size * count;
}

std::string escape(const std::string& text) {
  char* escaped = curl_easy_escape(nullptr, text.c_str(), static_cast<int>(text.size()));
  std::string result(escaped);
  curl_free(escaped);
  return result;
}

Outcome run_libcurl(const CurlCall& call, const std::string& origin) {
  Outcome outcome;
  CURL* curl = curl_easy_init();
  char error[CURL_ERROR_SIZE] = {};
  const std::string url = call.absolute_url.value_or(origin + call.target);
  const std::string ca = call.ca_file.value_or(data_file("ca.pem"));
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_3ONLY));
  curl_easy_setopt(curl, CURLOPT_CAINFO, ca.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, append);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &outcome.body);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, call.timeout_ms.value_or(10000L));
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
  if (call.custom_request) curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, call.custom_request->c_str());
  if (call.post_fields) {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, call.post_fields->data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(call.post_fields->size()));
  }
  if (call.user_pwd) curl_easy_setopt(curl, CURLOPT_USERPWD, call.user_pwd->c_str());
  if (call.user_agent) curl_easy_setopt(curl, CURLOPT_USERAGENT, call.user_agent->c_str());
  if (call.referer) curl_easy_setopt(curl, CURLOPT_REFERER, call.referer->c_str());
  if (call.cookie) curl_easy_setopt(curl, CURLOPT_COOKIE, call.cookie->c_str());
  if (call.range) curl_easy_setopt(curl, CURLOPT_RANGE, call.range->c_str());
  if (call.resume_from) curl_easy_setopt(curl, CURLOPT_RESUME_FROM_LARGE, *call.resume_from);
  if (call.nobody) curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  if (call.fail) curl_easy_setopt(curl, CURLOPT_FAILONERROR, 1L);
  curl_slist* headers = nullptr;
  for (const std::string& header : call.headers) headers = curl_slist_append(headers, header.c_str());
  if (headers) curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_mime* mime = nullptr;
  if (!call.mime_text.empty() || !call.mime_files.empty()) {
    mime = curl_mime_init(curl);
    for (const auto& [name, value] : call.mime_text) {
      curl_mimepart* part = curl_mime_addpart(mime);
      curl_mime_name(part, name.c_str());
      curl_mime_data(part, value.c_str(), CURL_ZERO_TERMINATED);
    }
    for (const auto& [name, path] : call.mime_files) {
      curl_mimepart* part = curl_mime_addpart(mime);
      curl_mime_name(part, name.c_str());
      curl_mime_filedata(part, path.c_str());
    }
    curl_easy_setopt(curl, CURLOPT_MIMEPOST, mime);
  }
  FILE* upload = nullptr;
  if (call.upload_file) {
    upload = std::fopen(call.upload_file->c_str(), "rb");
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_READDATA, upload);
    curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE,
                     static_cast<curl_off_t>(std::filesystem::file_size(*call.upload_file)));
  }
  outcome.exit_code = static_cast<int>(curl_easy_perform(curl));
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &outcome.status);
  outcome.error = error;
  if (upload) std::fclose(upload);
  curl_mime_free(mime);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return outcome;
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
  return text;
}

Outcome run_quiver(const Row& row, const TempDir& dir) {
  std::vector<std::string> args{"--cacert", row.curl.ca_file.value_or(data_file("ca.pem")), "--connect-timeout", "2",
                                "-D", (dir.path() / "head").string()};
  if (row.output_file) args.insert(args.end(), {"-o", (dir.path() / "out").string()});
  for (const std::string& arg : row.quiver_args) args.push_back(replace_all(arg, "{dir}", dir.path().string()));
  ProcessResult result = quiver(args);
  Outcome outcome;
  outcome.exit_code = result.exit_code;
  outcome.body = row.output_file ? read_file(dir.path() / "out") : result.out;
  outcome.error = result.err;
  // The last status line of the head dump (-D).
  const std::string head = read_file(dir.path() / "head");
  const std::regex status_line(R"(HTTP/3 (\d{3}))");
  for (auto it = std::sregex_iterator(head.begin(), head.end(), status_line);
       it != std::sregex_iterator(); ++it) {
    outcome.status = std::stol((*it)[1]);
  }
  return outcome;
}

// httpbin's echo without what legitimately differs: the default user-agent (unless the row sets one)
// and a multipart boundary.
json normalized(const std::string& body, bool keep_agent) {
  json echo = json::parse(body, nullptr, false);
  if (echo.is_discarded()) return json(body);
  if (echo.contains("headers")) {
    json& headers = echo["headers"];
    if (!keep_agent) headers.erase("User-Agent");
    if (headers.contains("Content-Type")) {
      const std::string type = headers["Content-Type"];
      const auto boundary_at = type.find("boundary=");
      if (boundary_at != std::string::npos) {
        const std::string boundary = type.substr(boundary_at + 9);
        headers["Content-Type"] = replace_all(type, boundary, "BOUNDARY");
        if (echo.contains("data") && echo["data"].is_string())
          echo["data"] = replace_all(echo["data"].get<std::string>(), boundary, "BOUNDARY");
      }
    }
  }
  return echo;
}

std::vector<Row> rows(const std::string& dir) {
  const std::string lines = dir + "/lines.txt", upload = dir + "/up.txt";
  std::vector<Row> all;
  auto add = [&](std::string name, std::vector<std::string> args, CurlCall call, Compare compare = Compare::json_echo,
                 bool output_file = false) {
    all.push_back(Row{std::move(name), std::move(args), std::move(call), compare, output_file, "", std::nullopt});
  };
  CurlCall c;
  c = {}; c.target = "/get?a=1";
  add("plain GET", {"{url}"}, c);
  c = {}; c.target = "/get"; c.nobody = true;
  add("-I", {"-I", "{url}"}, c, Compare::nothing);
  c = {}; c.target = "/post"; c.post_fields = "a=1&b=2";
  add("-d twice", {"-d", "a=1", "-d", "b=2", "{url}"}, c);
  c = {}; c.target = "/post"; c.post_fields = "a=1&b=2";  // the tool strips CR and LF of -d @file
  add("-d @file", {"-d", "@" + lines, "{url}"}, c);
  c = {}; c.target = "/post"; c.post_fields = "a=1\r\n&b=2\n"; c.headers = {"Content-Type: text/plain"};
  add("--data-binary @file", {"--data-binary", "@" + lines, "-H", "Content-Type: text/plain", "{url}"}, c);
  c = {}; c.target = "/post"; c.post_fields = "q=" + escape("a b&c/é") + "&" + escape("x y");
  add("--data-urlencode", {"--data-urlencode", "q=a b&c/é", "--data-urlencode", "x y", "{url}"}, c);
  c = {}; c.target = "/get?a=1&b=2";
  add("-G -d", {"-G", "-d", "a=1", "-d", "b=2", "{url}"}, c);
  all.back().quiver_target = "/get";
  c = {}; c.target = "/post"; c.post_fields = R"({"k":[1,2]})";
  c.headers = {"Content-Type: application/json", "Accept: application/json"};
  add("--json", {"--json", R"({"k":[1,2]})", "{url}"}, c);
  c = {}; c.target = "/post"; c.mime_text = {{"a", "1"}}; c.mime_files = {{"f", lines}};
  add("-F text and file", {"-F", "a=1", "-F", "f=@" + lines, "{url}"}, c);
  c = {}; c.target = "/put"; c.upload_file = upload;
  add("-T file", {"-T", upload, "{url}"}, c);
  c = {}; c.target = "/anything"; c.custom_request = "DELETE";
  add("-X DELETE", {"-X", "DELETE", "{url}"}, c);
  c = {}; c.target = "/basic-auth/u/p"; c.user_pwd = "u:p";
  add("-u", {"-u", "u:p", "{url}"}, c);
  c = {}; c.target = "/basic-auth/u/p"; c.user_pwd = "u:wrong"; c.fail = true;
  add("-u wrong -f", {"-u", "u:wrong", "-f", "{url}"}, c);
  c = {}; c.target = "/get"; c.user_agent = "agent/9"; c.referer = "https://example.com/";
  add("-A -e", {"-A", "agent/9", "-e", "https://example.com/", "{url}"}, c);
  c = {}; c.target = "/cookies"; c.cookie = "a=1; b=2";
  add("-b string", {"-b", "a=1; b=2", "{url}"}, c);
  c = {}; c.target = "/anything"; c.headers = {"X-Empty;", "Accept:", "X-Two: 2"};
  add("-H syntax", {"-H", "X-Empty;", "-H", "Accept:", "-H", "X-Two: 2", "{url}"}, c);
  c = {}; c.target = "/range/100"; c.range = "10-19";
  add("-r", {"-r", "10-19", "{url}"}, c, Compare::bytes);
  c = {}; c.target = "/range/100"; c.resume_from = 10;
  add("-C 10", {"-C", "10", "{url}"}, c, Compare::bytes, true);
  c = {}; c.target = "/range/100"; c.resume_from = 100;
  add("-C past the end (416)", {"-C", "100", "{url}"}, c, Compare::bytes, true);
  c = {}; c.target = "/bytes/100"; c.resume_from = 10;
  add("-C without range support", {"-C", "10", "{url}"}, c, Compare::nothing, true);
  c = {}; c.target = "/status/404";
  add("404", {"{url}"}, c, Compare::bytes);
  c = {}; c.target = "/status/404"; c.fail = true;
  add("404 -f", {"-f", "{url}"}, c, Compare::bytes);
  c = {}; c.target = "/delay/5000"; c.timeout_ms = 300;
  add("-m", {"-m", "0.3", "{url}"}, c, Compare::nothing);
  c = {}; c.absolute_url = "https://no-such-host.invalid/";
  add("unresolvable host", {"https://no-such-host.invalid/"}, c, Compare::nothing);
  c = {}; c.target = "/get"; c.ca_file = dir + "/no-certificate.pem";
  add("--cacert without a certificate", {"{url}"}, c, Compare::nothing);
  // curl's OpenSSL build stops with 77 (SSL_CACERT_BADFILE), as issue 17 asks of quiver; this GnuTLS
  // build of libcurl loads the empty file and fails the handshake with 60 instead.
  all.back().quiver_exit = 77;
  return all;
}

class CurlTable : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { curl_global_init(CURL_GLOBAL_DEFAULT); }
  static void TearDownTestSuite() { curl_global_cleanup(); }
};

TEST_F(CurlTable, QuiverAgreesWithLibcurl) {
  ServeProcess serve({"-q", "--cert", data_file("server.pem"), "--key", data_file("server-key.pem")});
  ASSERT_NE(serve.port(), 0) << serve.describe();
  const std::string origin = serve.url("");
  TempDir files;
  files.write("lines.txt", "a=1\r\n&b=2\n");
  files.write("up.txt", "uploaded with -T\n");
  files.write("no-certificate.pem", "no certificate here\n");
  for (Row row : rows(files.path().string())) {
    SCOPED_TRACE(row.name);
    const std::string target = row.quiver_target.empty() ? row.curl.target : row.quiver_target;
    for (std::string& arg : row.quiver_args) arg = replace_all(arg, "{url}", origin + target);
    TempDir quiver_dir;
    Outcome mine = run_quiver(row, quiver_dir);
    Outcome reference = run_libcurl(row.curl, origin);
    if (row.quiver_exit) {
      EXPECT_EQ(reference.exit_code, 60) << reference.error;
      EXPECT_EQ(mine.exit_code, *row.quiver_exit) << mine.error;
    } else {
      EXPECT_EQ(mine.exit_code, reference.exit_code) << "quiver: " << mine.error << "\nlibcurl: " << reference.error;
    }
    EXPECT_EQ(mine.status, reference.status);
    if (row.compare == Compare::json_echo) {
      const bool keep_agent = row.curl.user_agent.has_value();
      EXPECT_EQ(normalized(mine.body, keep_agent), normalized(reference.body, keep_agent));
    } else if (row.compare == Compare::bytes) {
      EXPECT_TRUE(mine.body == reference.body) << "quiver: " << mine.body.size() << " bytes, libcurl: "
                                               << reference.body.size() << " bytes";
    }
  }
  EXPECT_EQ(serve.stop(SIGTERM).exit_code, 0);
}

}  // namespace
}  // namespace quiver::test
