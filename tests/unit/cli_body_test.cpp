// curl's -H syntax (header_syntax.*) and the bodies of -d/-F/-T (request_body.*).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "header_syntax.hpp"
#include "request_body.hpp"

namespace quiver::cli {
namespace {

using Action = HeaderLine::Action;

TEST(HeaderLine, CurlsThreeForms) {
  EXPECT_EQ(parse_header_line("X-A:  v  "), (HeaderLine{Action::add, "X-A", "v"}));
  EXPECT_EQ(parse_header_line("X-A: a:b;c"), (HeaderLine{Action::add, "X-A", "a:b;c"}));
  EXPECT_EQ(parse_header_line("Accept:"), (HeaderLine{Action::remove, "Accept", ""}));
  EXPECT_EQ(parse_header_line("Accept:   "), (HeaderLine{Action::remove, "Accept", ""}));
  EXPECT_EQ(parse_header_line("X-Empty;"), (HeaderLine{Action::add, "X-Empty", ""}));
  EXPECT_FALSE(parse_header_line("NoSeparator").has_value());
  EXPECT_FALSE(parse_header_line(": v").has_value());
  EXPECT_FALSE(parse_header_line("X; more").has_value());
}

TEST(HeaderLine, FileLinesSkipBlanksAndLineEnds) {
  EXPECT_EQ(header_file_lines("A: 1\r\n\r\n  \nB;\n"), (std::vector<std::string>{"A: 1", "B;"}));
  EXPECT_TRUE(header_file_lines("").empty());
}

TEST(HeaderLine, ApplyReplacesRemovesAndWarns) {
  std::vector<std::string> warnings;
  Headers headers = apply_header_lines({{"user-agent", "quiver/1"}, {"accept", "*/*"}},
                                       {{Action::add, "User-Agent", "mine"},
                                        {Action::remove, "Accept", ""},
                                        {Action::add, "Keep-Alive", "timeout=5"},
                                        {Action::add, "X", "1"}},
                                       warnings);
  EXPECT_EQ(headers, (Headers{{"User-Agent", "mine"}, {"X", "1"}}));
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("Keep-Alive"), std::string::npos);
}

TEST(UrlEncode, EverythingButUnreserved) {
  EXPECT_EQ(url_encode("aZ09-._~"), "aZ09-._~");
  EXPECT_EQ(url_encode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
  EXPECT_EQ(url_encode(""), "");
}

TEST(FormPart, ValuesFilesAndParameters) {
  auto text = parse_form_part("name=value");
  ASSERT_TRUE(text.has_value());
  EXPECT_EQ(*text, (FormPart{"name", "value", false, false, "", ""}));

  auto file = parse_form_part("f=@/tmp/dir/photo.png");
  ASSERT_TRUE(file.has_value());
  EXPECT_TRUE(file->file && file->send_filename);
  EXPECT_EQ(file->value, "/tmp/dir/photo.png");
  EXPECT_EQ(file->filename, "photo.png");
  EXPECT_EQ(file->content_type, "image/png");

  auto typed = parse_form_part("f=@data.bin;type=application/x-thing;filename=other.txt");
  ASSERT_TRUE(typed.has_value());
  EXPECT_EQ(typed->content_type, "application/x-thing");
  EXPECT_EQ(typed->filename, "other.txt");

  auto unknown = parse_form_part("f=@blob");
  ASSERT_TRUE(unknown.has_value());
  EXPECT_EQ(unknown->content_type, "application/octet-stream");

  auto contents = parse_form_part("t=<notes.txt");
  ASSERT_TRUE(contents.has_value());
  EXPECT_TRUE(contents->file);
  EXPECT_FALSE(contents->send_filename);
  EXPECT_EQ(contents->content_type, "text/plain");

  auto quoted = parse_form_part("q=\"a;b\";type=text/x");
  ASSERT_TRUE(quoted.has_value());
  EXPECT_EQ(quoted->value, "a;b");
  EXPECT_EQ(quoted->content_type, "text/x");

  EXPECT_FALSE(parse_form_part("novalue").has_value());
  EXPECT_FALSE(parse_form_part("=x").has_value());
  EXPECT_FALSE(parse_form_part("f=@x;bogus=1").has_value());
}

// Drains a producer body.
std::string drain(const RequestBody& body) {
  std::string all;
  while (auto chunk = (*body.producer())()) all += *chunk;
  return all;
}

TEST(MultipartBody, CurlsLayoutWithTheFileStreamed) {
  const auto path = std::filesystem::temp_directory_path() / "quiver_multipart_part.txt";
  const std::string big(200000, 'x');  // several producer chunks
  std::ofstream(path, std::ios::binary) << big;
  std::istringstream in("from stdin");
  auto form = MultipartBody::plan({*parse_form_part("a=1"), *parse_form_part("f=@" + path.string()),
                                   *parse_form_part("s=<-")},
                                  in, "BOUNDARY");
  ASSERT_TRUE(form.has_value()) << form.error().line();
  const std::string expected =
      "--BOUNDARY\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n"
      "--BOUNDARY\r\nContent-Disposition: form-data; name=\"f\"; filename=\"quiver_multipart_part.txt\"\r\n"
      "Content-Type: text/plain\r\n\r\n" + big + "\r\n"
      "--BOUNDARY\r\nContent-Disposition: form-data; name=\"s\"\r\n\r\nfrom stdin\r\n"
      "--BOUNDARY--\r\n";
  EXPECT_EQ(form->size(), expected.size());
  EXPECT_EQ(form->content_type(), "multipart/form-data; boundary=BOUNDARY");
  EXPECT_TRUE(drain(form->make_body()) == expected);
  EXPECT_TRUE(drain(form->make_body()) == expected);  // a second attempt gets the same bytes
  std::filesystem::remove(path);
}

TEST(MultipartBody, MissingFileIsNamed) {
  std::istringstream in;
  auto form = MultipartBody::plan({*parse_form_part("f=@/nonexistent/x.bin")}, in, "B");
  ASSERT_FALSE(form.has_value());
  EXPECT_EQ(form.error().exit_code, exit_code::read_failed);
  EXPECT_NE(form.error().cause.find("/nonexistent/x.bin"), std::string::npos);
}

TEST(MultipartBody, RandomBoundaryLikeCurls) {
  std::istringstream in;
  auto a = MultipartBody::plan({*parse_form_part("a=1")}, in);
  auto b = MultipartBody::plan({*parse_form_part("a=1")}, in);
  ASSERT_TRUE(a && b);
  EXPECT_TRUE(a->boundary().starts_with("------------------------"));
  EXPECT_EQ(a->boundary().size(), 46u);
  EXPECT_NE(a->boundary(), b->boundary());
}

}  // namespace
}  // namespace quiver::cli
