#include "quiver/body.hpp"

namespace quiver {

RequestBody::RequestBody(std::string bytes) : kind_(Kind::bytes), bytes_(std::move(bytes)) {}

RequestBody::RequestBody(const char* bytes) : RequestBody(std::string(bytes)) {}

RequestBody RequestBody::from_file(std::string path) {
  RequestBody body;
  body.kind_ = Kind::file;
  body.path_ = std::move(path);
  return body;
}

RequestBody RequestBody::from_producer(Producer producer) {
  RequestBody body;
  body.kind_ = Kind::producer;
  body.producer_ = std::make_shared<Producer>(std::move(producer));
  return body;
}

RequestBody RequestBody::from_async_producer(AsyncProducer producer) {
  RequestBody body;
  body.kind_ = Kind::producer;
  body.async_producer_ = std::make_shared<AsyncProducer>(std::move(producer));
  return body;
}

}  // namespace quiver
