#pragma once
// post_behind: posts `action` to `executor`, and lets it step back behind work queued after it — at most
// `max_steps` times, while `wait()` says that work may add to what `action` does. The transport's write
// uses it to run after the answers a receive burst posted, whose handlers often send the next requests.

#include <cstddef>
#include <utility>

#include <asio/any_io_executor.hpp>
#include <asio/post.hpp>

namespace quiver::util {

template <class Wait, class Action>
void post_behind(const asio::any_io_executor& executor, std::size_t max_steps, Wait wait, Action action) {
  asio::post(executor, [executor, max_steps, wait = std::move(wait), action = std::move(action)]() mutable {
    if (max_steps > 0 && wait()) return post_behind(executor, max_steps - 1, std::move(wait), std::move(action));
    action();
  });
}

}  // namespace quiver::util
