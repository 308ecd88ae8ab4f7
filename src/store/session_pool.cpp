#include "orderbridge/store/session_pool.hpp"

namespace orderbridge::store {

SessionPool::SessionPool(Store& store, int threads) : store_(store) {
    for (int i = 0; i < std::max(1, threads); ++i)
        threads_.emplace_back([this] { Loop(); });
}

SessionPool::~SessionPool() {
    Stop();
}

void SessionPool::Post(Task task, std::function<void(std::exception_ptr)> on_error) {
    {
        std::lock_guard lock(mutex_);
        if (stopping_) {
            on_error(std::make_exception_ptr(UnavailableError("shutting down")));
            return;
        }
        queue_.push_back(Item{std::move(task), std::move(on_error)});
    }
    cv_.notify_one();
}

void SessionPool::Stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) {
        if (t.joinable()) t.join();
    }
    threads_.clear();
}

void SessionPool::Loop() {
    std::unique_ptr<Session> session;
    for (;;) {
        Item item;
        {
            std::unique_lock lock(mutex_);
            cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
            if (queue_.empty()) return;
            item = std::move(queue_.front());
            queue_.pop_front();
        }
        try {
            if (!session) session = store_.Open();
            item.task(*session);
        } catch (...) {
            session.reset();
            item.on_error(std::current_exception());
        }
    }
}

}  // namespace orderbridge::store
