#pragma once
// Group commit for webhook deliveries. HTTP handlers Submit a record with a completion; writer
// threads take whatever is queued (up to `max_batch`, after letting a small group gather for up
// to `group_window`) and commit it in one transaction, so the database sees one commit per group
// instead of one fsync per webhook, and no io thread ever waits for the database. Every completion
// is called exactly once: with the outcome after the commit, or with "unavailable" when the store
// fails, the queue is full, or `ack_timeout` passes first.
//
// Thread-safety: Submit may be called from any thread; Start/Stop from the owner.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "orderbridge/store/store.hpp"

namespace prometheus {
class Registry;
class Histogram;
class Counter;
class Gauge;
}  // namespace prometheus

namespace orderbridge::store {

struct IngestSettings {
    std::size_t max_batch = 256;
    std::size_t max_queue = 20000;
    int writers = 1;
    /// A writer that finds a small group lets it gather until it is large enough to share a commit
    /// well or its oldest record has waited this long (0: take what is there).
    std::chrono::milliseconds group_window{0};
    std::chrono::milliseconds ack_timeout{10000};
    std::chrono::milliseconds retry_unavailable_after{1000};  ///< fail fast for this long after an outage
    std::function<void()> on_commit;  ///< called on the writer thread after every commit (wakes the dispatcher)
};

class IngestQueue {
  public:
    /// nullopt outcome: not stored (store unavailable, queue full or too slow); `error` says why.
    using Done = std::function<void(std::optional<Outcome> outcome, const std::string& error)>;

    IngestQueue(Store& store, IngestSettings settings, prometheus::Registry& registry);
    ~IngestQueue();

    void Start();
    /// Stops taking new records, commits what is queued, joins the writers.
    void Stop();
    void Submit(IngestRecord record, Done done);
    bool Healthy() const { return healthy_.load(); }
    std::size_t Depth() const;

  private:
    struct Pending {
        IngestRecord record;
        Done done;
        std::chrono::steady_clock::time_point enqueued;
        std::atomic<bool> answered{false};
        void Answer(std::optional<Outcome> o, const std::string& error) {
            if (!answered.exchange(true)) done(o, error);
        }
    };
    using PendingPtr = std::shared_ptr<Pending>;

    // A group this large shares its transaction's fixed cost well enough: it stops gathering. For
    // PostgreSQL that cost is about eight deliveries' worth of the database's own work per delivery.
    static constexpr std::size_t kEnoughToShare = 8;
    std::size_t EnoughToShare() const { return std::min(settings_.max_batch, kEnoughToShare); }

    void WriterLoop();
    void ReaperLoop();
    void Commit(Session& session, std::vector<PendingPtr>& batch);

    Store& store_;
    IngestSettings settings_;
    mutable std::mutex mutex_;
    std::condition_variable cv_;         // writers wait here for records
    std::condition_variable group_cv_;   // the writer gathering a group waits here for it to fill
    std::condition_variable reaper_cv_;  // the reaper waits here for its tick or the stop
    std::deque<PendingPtr> queue_;
    std::list<std::weak_ptr<Pending>> waiting_;  // for the reaper: everything not yet answered
    bool stopping_ = false;
    bool gathering_ = false;  // a writer is letting a group gather (the others leave it the queue)
    std::vector<std::thread> writers_;
    std::thread reaper_;
    std::atomic<bool> healthy_{true};
    std::atomic<std::int64_t> last_failure_ms_{0};

    prometheus::Histogram& batch_size_;
    prometheus::Counter& store_errors_;
    prometheus::Counter& timeouts_;
    prometheus::Gauge& depth_;
};

}  // namespace orderbridge::store
