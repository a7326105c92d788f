#include "proc_fs/mount_prober.hpp"

#include <algorithm>
#include <cerrno>

namespace dmon::plugins::proc_fs {

MountProber::MountProber(StatFn stat, std::chrono::milliseconds timeout,
                         std::function<void()> on_abandon)
    : stat_(std::move(stat)), timeout_(timeout), on_abandon_(std::move(on_abandon)) {}

MountProber::~MountProber() {
    if (!worker_)
        return;
    std::unique_lock lock(worker_->mutex);
    worker_->stop = true;
    worker_->queue.clear();
    worker_->changed.notify_all();
    // A call in progress gets its timeout to return; a thread still in the kernel after that
    // is left behind like a stuck one (joining it could block the host's reload for ever).
    const bool idle = worker_->changed.wait_for(lock, timeout_, [&] { return !worker_->current; });
    lock.unlock();
    if (idle) {
        thread_.join();
    } else {
        thread_.detach();
        if (on_abandon_)
            on_abandon_();
    }
}

void MountProber::run(std::shared_ptr<Worker> worker, StatFn stat) {
    std::unique_lock lock(worker->mutex);
    for (;;) {
        worker->changed.wait(lock, [&] { return worker->stop || !worker->queue.empty(); });
        if (worker->stop)
            return;
        auto job = std::move(worker->queue.front());
        worker->queue.pop_front();
        worker->current = job;
        worker->started = std::chrono::steady_clock::now();
        worker->changed.notify_all();  // the prober times the call from now
        lock.unlock();
        FsStats stats;
        const int error = stat(job->path, stats);
        lock.lock();
        job->stats = stats;
        job->error = error;
        job->done = true;
        worker->current.reset();
        worker->changed.notify_all();
    }
}

void MountProber::start_worker() {
    worker_ = std::make_shared<Worker>();
    thread_ = std::thread(&MountProber::run, worker_, stat_);
}

std::vector<MountProber::Result> MountProber::probe(const std::vector<std::string>& paths) {
    std::vector<Result> results(paths.size());
    std::vector<std::pair<size_t, std::shared_ptr<Job>>> jobs;
    for (size_t i = 0; i < paths.size(); ++i) {
        if (auto parked = stuck_.find(paths[i]); parked != stuck_.end()) {
            bool returned;
            {
                std::lock_guard lock(parked->second.worker->mutex);
                returned = parked->second.job->done;
            }
            if (!returned) {
                results[i].outcome = Outcome::stuck;
                continue;
            }
            // It came back: ask it afresh. Erased only once its worker's mutex is released, since
            // this may drop the last reference to that worker (its thread has ended).
            stuck_.erase(parked);
        }
        jobs.emplace_back(i, std::make_shared<Job>(Job{paths[i]}));
    }
    if (jobs.empty())
        return results;
    if (!worker_)
        start_worker();
    std::unique_lock lock(worker_->mutex);
    for (const auto& [index, job] : jobs)
        worker_->queue.push_back(job);
    worker_->changed.notify_all();
    // Jobs left behind with an abandoned worker: theirs is the old worker's mutex, not read here.
    std::vector<const Job*> abandoned;
    const auto left_behind = [&](const Job* job) {
        return std::find(abandoned.begin(), abandoned.end(), job) != abandoned.end();
    };
    const auto all_done = [&] {
        return std::all_of(jobs.begin(), jobs.end(), [&](const auto& j) {
            return left_behind(j.second.get()) || j.second->done;
        });
    };
    while (!all_done()) {
        if (!worker_->current) {
            worker_->changed.wait(lock, [&] { return all_done() || worker_->current != nullptr; });
            continue;
        }
        const auto deadline = worker_->started + timeout_;
        const auto current = worker_->current;
        if (worker_->changed.wait_until(
                lock, deadline, [&] { return all_done() || worker_->current != current; })) {
            continue;
        }
        // The call has overrun: park it with its worker and give the rest to a new one.
        stuck_[current->path] = Parked{worker_, current};
        abandoned.push_back(current.get());
        std::deque<std::shared_ptr<Job>> rest = std::move(worker_->queue);
        worker_->queue.clear();
        worker_->stop = true;
        lock.unlock();
        thread_.detach();
        if (on_abandon_)
            on_abandon_();
        start_worker();
        lock = std::unique_lock(worker_->mutex);
        worker_->queue = std::move(rest);
        worker_->changed.notify_all();
    }
    lock.unlock();
    for (const auto& [index, job] : jobs) {
        Result& result = results[index];
        if (left_behind(job.get())) {
            result.outcome = Outcome::timed_out;
            continue;
        }
        result.error = job->error;
        result.stats = job->stats;
        result.outcome = job->error == 0                                 ? Outcome::ok
                         : job->error == ENOENT || job->error == ENOTDIR ? Outcome::gone
                                                                         : Outcome::failed;
    }
    return results;
}

std::vector<std::string> MountProber::stuck() const {
    std::vector<std::string> paths;
    for (const auto& [path, parked] : stuck_) {
        std::lock_guard lock(parked.worker->mutex);
        if (!parked.job->done)
            paths.push_back(path);
    }
    return paths;
}

}  // namespace dmon::plugins::proc_fs
