#include "http/channel.hpp"

#include <asio/post.hpp>
#include <fmt/format.h>

namespace quiver::http {

ChannelEndpoint::ChannelEndpoint(asio::any_io_executor executor, std::size_t queue_limit, Runner run)
    : executor_(std::move(executor)), run_(std::move(run)), queue_limit_(queue_limit) {}

void ChannelEndpoint::attach(Link link, bool datagrams) {
  std::lock_guard lock(mutex_);
  if (closed_) return;
  link_ = std::move(link);
  datagrams_.store(datagrams, std::memory_order_relaxed);
  max_size_.store(datagrams ? link_->max_size() : 0, std::memory_order_relaxed);
}

void ChannelEndpoint::deliver(std::span<const std::uint8_t> payload) {
  std::string datagram(reinterpret_cast<const char*>(payload.data()), payload.size());
  std::optional<ReceiveCompletion> reader;
  {
    std::lock_guard lock(mutex_);
    if (closed_) return;
    received_.fetch_add(1, std::memory_order_relaxed);
    if (waiting_) {
      reader = std::move(waiting_);
      waiting_.reset();
    } else if (queue_.size() >= queue_limit_) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return;
    } else {
      queue_.push_back(std::move(datagram));
      return;
    }
  }
  post_to_reader(std::move(*reader), std::move(datagram));
}

void ChannelEndpoint::close(const Error& reason) {
  std::optional<ReceiveCompletion> reader;
  {
    std::lock_guard lock(mutex_);
    if (closed_) return;
    closed_ = reason;
    if (waiting_ && queue_.empty()) {
      reader = std::move(waiting_);
      waiting_.reset();
    }
  }
  if (reader) post_to_reader(std::move(*reader), std::unexpected(reason));
}

std::optional<Error> ChannelEndpoint::closed_reason() const {
  std::lock_guard lock(mutex_);
  return closed_;
}

Result<void> ChannelEndpoint::send(std::string payload) {
  std::lock_guard lock(mutex_);
  if (closed_) {
    return std::unexpected(closed_->restated(ErrorKind::channel_closed, ErrorClass::unrecoverable,
                                             fmt::format("the channel is closed: {}", closed_->message())));
  }
  if (!link_) return std::unexpected(Error(ErrorKind::channel_closed, "the channel is not open"));
  if (!datagrams_enabled()) {
    return std::unexpected(Error(ErrorKind::datagrams_disabled,
                                 "HTTP datagrams were not negotiated on this channel's connection (the server did "
                                 "not offer SETTINGS_H3_DATAGRAM and QUIC DATAGRAM frames, or "
                                 "ConnectionOptions::http_datagrams is off)"));
  }
  std::size_t limit = max_datagram_size();
  if (payload.size() > limit) {
    return std::unexpected(Error(ErrorKind::datagram_too_large,
                                 fmt::format("datagram of {} bytes is over max_datagram_size() = {} bytes",
                                             payload.size(), limit)));
  }
  if (in_flight_ + backlog_ >= kMaxDatagramBacklog) {
    refresh_later();  // the transport may have sent some since backlog_ was read: a later send sees that
    return std::unexpected(Error(ErrorKind::congestion_limited,
                                 fmt::format("{} datagrams already wait for the congestion controller; not sent",
                                             in_flight_ + backlog_)));
  }
  ++in_flight_;
  auto work = [self = shared_from_this(), payload = std::move(payload)] {
    Link* link = nullptr;
    {
      std::lock_guard inner(self->mutex_);
      --self->in_flight_;
      if (self->closed_ || !self->link_) return;
      link = &*self->link_;  // set once, never reset: stays valid
    }
    auto sent = link->send({reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()});
    (sent ? self->sent_ : self->failed_).fetch_add(1, std::memory_order_relaxed);
    self->refresh_from_link();
  };
  if (!run_) {
    asio::post(executor_, std::move(work));
    return {};
  }
  run_(std::move(work), [self = shared_from_this()] {  // the client stopped meanwhile: never sent
    std::lock_guard inner(self->mutex_);
    --self->in_flight_;
    self->failed_.fetch_add(1, std::memory_order_relaxed);
  });
  return {};
}

void ChannelEndpoint::refresh_later() {
  if (refresh_pending_) return;
  refresh_pending_ = true;
  auto refresh = [self = shared_from_this()] {
    {
      std::lock_guard lock(self->mutex_);
      self->refresh_pending_ = false;
    }
    self->refresh_from_link();
  };
  if (!run_) return asio::post(executor_, std::move(refresh));
  run_(std::move(refresh), [] {});  // the client stopped: nothing more will be sent anyway
}

void ChannelEndpoint::refresh_from_link() {
  std::lock_guard lock(mutex_);
  if (!link_) return;
  backlog_ = link_->backlog();
  if (datagrams_enabled()) max_size_.store(link_->max_size(), std::memory_order_relaxed);
}

void ChannelEndpoint::receive(ReceiveCompletion completion) {
  std::optional<Result<std::string>> value;
  {
    std::lock_guard lock(mutex_);
    if (!queue_.empty()) {
      value = std::move(queue_.front());
      queue_.pop_front();
    } else if (closed_) {
      value = std::unexpected(*closed_);
    } else if (waiting_) {
      value = std::unexpected(Error(ErrorKind::invalid_request, "a receive is already waiting on this channel"));
    } else {
      waiting_ = std::move(completion);
      return;
    }
  }
  post_to_reader(std::move(completion), std::move(*value));
}

void ChannelEndpoint::cancel_receive(const Error& reason) {
  std::optional<ReceiveCompletion> reader;
  {
    std::lock_guard lock(mutex_);
    if (!waiting_) return;
    reader = std::move(waiting_);
    waiting_.reset();
  }
  post_to_reader(std::move(*reader), std::unexpected(reason));
}

// Completions are always posted to the connection's executor, never run inside a call.
void ChannelEndpoint::post_to_reader(ReceiveCompletion completion, Result<std::string> value) {
  // Shared by the work and its refusal: exactly one of them runs.
  auto shared = std::make_shared<std::pair<ReceiveCompletion, Result<std::string>>>(std::move(completion),
                                                                                    std::move(value));
  auto finish = [shared] { shared->first(std::move(shared->second)); };
  if (!run_) {
    asio::post(executor_, std::move(finish));
    return;
  }
  run_(finish, finish);
}

}  // namespace quiver::http
