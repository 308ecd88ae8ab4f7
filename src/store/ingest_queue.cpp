#include "orderbridge/store/ingest_queue.hpp"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "orderbridge/core/log.hpp"

namespace orderbridge::store {
namespace {
std::int64_t NowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}
}  // namespace

IngestQueue::IngestQueue(Store& store, IngestSettings settings, prometheus::Registry& registry)
    : store_(store),
      settings_(settings),
      batch_size_(prometheus::BuildHistogram()
                      .Name("orderbridge_ingest_batch_size")
                      .Help("Deliveries committed together in one transaction (group commit)")
                      .Register(registry)
                      .Add({}, prometheus::Histogram::BucketBoundaries{1, 2, 4, 8, 16, 32, 64, 128, 256, 512})),
      store_errors_(prometheus::BuildCounter()
                        .Name("orderbridge_store_errors_total")
                        .Help("Failed ingest transactions (store unreachable or failing)")
                        .Register(registry)
                        .Add({{"operation", "ingest"}})),
      timeouts_(prometheus::BuildCounter()
                    .Name("orderbridge_ingest_timeouts_total")
                    .Help("Deliveries answered 503 because they were not committed within the ack timeout")
                    .Register(registry)
                    .Add({})),
      depth_(prometheus::BuildGauge()
                 .Name("orderbridge_ingest_queue_depth")
                 .Help("Deliveries waiting for their commit")
                 .Register(registry)
                 .Add({})) {}

IngestQueue::~IngestQueue() {
    Stop();
}

void IngestQueue::Start() {
    for (int i = 0; i < std::max(1, settings_.writers); ++i)
        writers_.emplace_back([this] { WriterLoop(); });
    reaper_ = std::thread([this] { ReaperLoop(); });
}

void IngestQueue::Stop() {
    {
        std::lock_guard lock(mutex_);
        if (stopping_ && writers_.empty()) return;
        stopping_ = true;
    }
    cv_.notify_all();
    group_cv_.notify_all();
    reaper_cv_.notify_all();
    for (auto& t : writers_) {
        if (t.joinable()) t.join();
    }
    writers_.clear();
    if (reaper_.joinable()) reaper_.join();
    // Anything still queued (no writer could take it) is answered, never dropped silently.
    std::deque<PendingPtr> rest;
    {
        std::lock_guard lock(mutex_);
        rest.swap(queue_);
    }
    for (auto& p : rest)
        p->Answer(std::nullopt, "shutting down");
}

std::size_t IngestQueue::Depth() const {
    std::lock_guard lock(mutex_);
    return queue_.size();
}

void IngestQueue::Submit(IngestRecord record, Done done) {
    if (!healthy_.load() && NowMs() - last_failure_ms_.load() < settings_.retry_unavailable_after.count()) {
        done(std::nullopt, "the store is unavailable");
        return;
    }
    auto p = std::make_shared<Pending>();
    bool gathering = false;
    bool full = false;
    p->record = std::move(record);
    p->done = std::move(done);
    p->enqueued = std::chrono::steady_clock::now();
    {
        std::lock_guard lock(mutex_);
        if (stopping_) {
            p->Answer(std::nullopt, "shutting down");
            return;
        }
        if (queue_.size() >= settings_.max_queue) {
            p->Answer(std::nullopt, "the ingest queue is full");
            return;
        }
        queue_.push_back(p);
        waiting_.push_back(p);
        depth_.Set(static_cast<double>(queue_.size()));
        gathering = gathering_;
        full = queue_.size() >= EnoughToShare();
    }
    if (!gathering) {
        cv_.notify_one();
    } else if (full) {
        group_cv_.notify_one();
    }
}

void IngestQueue::WriterLoop() {
    std::unique_ptr<Session> session;
    for (;;) {
        std::vector<PendingPtr> batch;
        {
            std::unique_lock lock(mutex_);
            // While the store is unhealthy, wake up once a second to check it even without traffic, so
            // readiness recovers when no webhook arrives (a load balancer may have stopped sending).
            const bool woke = cv_.wait_for(lock, std::chrono::seconds(1),
                                           [this] { return stopping_ || (!queue_.empty() && !gathering_); });
            if (queue_.empty() && stopping_) return;
            if (!woke) {
                lock.unlock();
                if (!healthy_.load()) {
                    try {
                        if (!session) session = store_.Open();
                        session->Ping();
                        healthy_.store(true);
                        log::Info("the store is reachable again");
                    } catch (const std::exception&) {
                        session.reset();
                        last_failure_ms_.store(NowMs());
                    }
                }
                continue;
            }
            // One writer at a time lets a small group gather until it has kEnoughToShare records or
            // its oldest has waited group_window: at a few thousand webhooks a second this turns groups
            // of one or two into groups of several, which share one transaction's fixed cost (round
            // trips, commit), mostly the database's work. Under load that many queue while the
            // previous group commits and nobody waits. The other writers leave the queue alone meanwhile.
            if (settings_.group_window.count() > 0 && queue_.size() < EnoughToShare()) {
                gathering_ = true;
                group_cv_.wait_until(lock, queue_.front()->enqueued + settings_.group_window,
                                     [this] { return stopping_ || queue_.size() >= EnoughToShare(); });
                gathering_ = false;
            }
            while (!queue_.empty() && batch.size() < settings_.max_batch) {
                batch.push_back(std::move(queue_.front()));
                queue_.pop_front();
            }
            depth_.Set(static_cast<double>(queue_.size()));
            // What is left (more than one group's worth) goes to the next free writer.
            if (!queue_.empty()) cv_.notify_one();
        }
        if (batch.empty()) continue;  // on stop, another writer took what this one was gathering
        try {
            if (!session) session = store_.Open();
            Commit(*session, batch);
        } catch (const std::exception& e) {
            session.reset();
            store_errors_.Increment();
            healthy_.store(false);
            last_failure_ms_.store(NowMs());
            log::Error("ingest commit failed", {{"error", e.what()}, {"deliveries", batch.size()}});
            for (auto& p : batch)
                p->Answer(std::nullopt, "the store is unavailable");
        }
    }
}

void IngestQueue::Commit(Session& session, std::vector<PendingPtr>& batch) {
    std::vector<const IngestRecord*> records;
    records.reserve(batch.size());
    for (auto& p : batch)
        records.push_back(&p->record);
    std::vector<Outcome> outcomes;
    try {
        outcomes = session.Ingest(records);
    } catch (const UnavailableError&) {
        throw;
    } catch (const std::exception& e) {
        // One bad record must not fail its neighbours: commit them one by one.
        log::Warn("group commit failed, retrying deliveries one by one", {{"error", e.what()}});
        for (auto& p : batch) {
            try {
                const auto one = session.Ingest({&p->record});
                p->Answer(one.front(), "");
            } catch (const UnavailableError&) {
                throw;
            } catch (const std::exception& e2) {
                store_errors_.Increment();
                log::Error("delivery could not be stored",
                           {{"error", e2.what()}, {"store", p->record.store_id}, {"topic", p->record.topic}});
                p->Answer(std::nullopt, "the delivery could not be stored");
            }
        }
        healthy_.store(true);
        if (settings_.on_commit) settings_.on_commit();
        return;
    }
    healthy_.store(true);
    batch_size_.Observe(static_cast<double>(batch.size()));
    for (std::size_t i = 0; i < batch.size(); ++i)
        batch[i]->Answer(outcomes[i], "");
    if (settings_.on_commit) settings_.on_commit();
}

void IngestQueue::ReaperLoop() {
    for (;;) {
        {
            std::unique_lock lock(mutex_);
            // On stop the reaper leaves at once; Stop() answers whatever the writers could not take.
            if (reaper_cv_.wait_for(lock, std::chrono::milliseconds(100), [this] { return stopping_; })) return;
            const auto now = std::chrono::steady_clock::now();
            for (auto it = waiting_.begin(); it != waiting_.end();) {
                auto p = it->lock();
                if (!p || p->answered.load()) {
                    it = waiting_.erase(it);
                    continue;
                }
                if (now - p->enqueued > settings_.ack_timeout) {
                    // Still committed when the store gets to it; only the answer gives up.
                    timeouts_.Increment();
                    p->Answer(std::nullopt, "the store did not commit in time");
                    it = waiting_.erase(it);
                    continue;
                }
                ++it;
            }
        }
    }
}

}  // namespace orderbridge::store
