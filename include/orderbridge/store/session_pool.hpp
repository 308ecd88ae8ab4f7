#pragma once
// Worker threads that each own one store Session, for reads and admin actions requested over HTTP:
// the io thread posts a task and the worker answers through the task's own completion.
// Thread-safety: Post from any thread.
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "orderbridge/store/store.hpp"

namespace orderbridge::store {

class SessionPool {
  public:
    using Task = std::function<void(Session&)>;
    SessionPool(Store& store, int threads);
    ~SessionPool();
    /// Runs `task` on a worker; `on_error` gets the exception when the session cannot be opened or
    /// the task throws (the session is then reopened for the next task).
    void Post(Task task, std::function<void(std::exception_ptr)> on_error);
    void Stop();

  private:
    struct Item {
        Task task;
        std::function<void(std::exception_ptr)> on_error;
    };
    void Loop();
    Store& store_;
    std::mutex mutex_;
    std::condition_variable cv_;
    std::deque<Item> queue_;
    bool stopping_ = false;
    std::vector<std::thread> threads_;
};

}  // namespace orderbridge::store
