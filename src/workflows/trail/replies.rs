//! Answering the tasks that wait for a batch with one wake-up per thread, not per task.
//!
//! The requests waiting for a batch of delivery records run on the HTTP worker threads; the
//! writers run on a thread of their own. Waking a task on another thread's runtime costs a system
//! call (that runtime's `eventfd`) every time, so answering a 30-row batch task by task costs 30
//! of them, and each may wake its thread again. Instead, each worker thread has a [`Mailbox`]
//! served by one task of its own: the writer puts all of that thread's answers in it and wakes
//! that one task, which answers each request on its own thread, where a wake-up is a push onto
//! the runtime's queue.
//!
//! Only a task on a single-threaded runtime gets its answer through a mailbox (the HTTP workers'
//! runtimes are such; on a multi-threaded one a task may move between threads, so it is answered
//! directly). The mailbox's task runs on the runtime that was current when the thread first
//! asked: a thread that drives one single-threaded runtime at a time, as the HTTP workers do,
//! is what this is for.

use std::cell::RefCell;
use std::sync::{Arc, Mutex};

use tokio::runtime::{self, Handle, RuntimeFlavor};
use tokio::sync::{oneshot, Notify};

/// Where one waiting task's answer goes.
pub(super) struct ReplyTo<T> {
    done: oneshot::Sender<T>,
    /// The mailbox of the task's thread, if it has one.
    mailbox: Option<Arc<Mailbox>>,
}

/// An answer on its way: handing it to its task.
type Answer = Box<dyn FnOnce() + Send>;

/// The answers waiting for one thread's answering task.
#[derive(Default)]
struct Mailbox {
    answers: Mutex<Vec<Answer>>,
    ready: Notify,
}

thread_local! {
    /// This thread's mailbox, with the runtime its answering task runs on.
    static MAILBOX: RefCell<Option<(runtime::Id, Arc<Mailbox>)>> = const { RefCell::new(None) };
}

impl<T: Send + 'static> ReplyTo<T> {
    /// A reply to the calling task: through its thread's mailbox when it runs on a
    /// single-threaded runtime (started with its answering task on first use).
    pub(super) fn this_task() -> (Self, oneshot::Receiver<T>) {
        let (done, answer) = oneshot::channel();
        let mailbox = Handle::try_current()
            .ok()
            .filter(|runtime| runtime.runtime_flavor() == RuntimeFlavor::CurrentThread)
            .and_then(|runtime| Mailbox::of_this_thread(&runtime));
        (Self { done, mailbox }, answer)
    }

    /// Answers every task of a batch: one wake-up for each thread with a mailbox, and each other
    /// task directly.
    pub(super) fn answer_all(replies: impl IntoIterator<Item = (ReplyTo<T>, T)>) {
        let mut by_thread: Vec<(Arc<Mailbox>, Vec<Answer>)> = Vec::new();
        for (reply, outcome) in replies {
            let done = reply.done;
            let Some(mailbox) = reply.mailbox else {
                let _ = done.send(outcome);
                continue;
            };
            let answer: Answer = Box::new(move || {
                let _ = done.send(outcome);
            });
            match by_thread.iter_mut().find(|(m, _)| Arc::ptr_eq(m, &mailbox)) {
                Some((_, answers)) => answers.push(answer),
                None => by_thread.push((mailbox, vec![answer])),
            }
        }
        for (mailbox, answers) in by_thread {
            mailbox
                .answers
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .extend(answers);
            mailbox.ready.notify_one();
        }
    }
}

impl Mailbox {
    /// This thread's mailbox for `runtime`: a new one (and its task) the first time, or when the
    /// thread now runs another runtime; `None` while the thread is ending.
    fn of_this_thread(runtime: &Handle) -> Option<Arc<Self>> {
        MAILBOX
            .try_with(|mine| {
                let mut mine = mine.borrow_mut();
                match &*mine {
                    Some((id, mailbox)) if *id == runtime.id() => Arc::clone(mailbox),
                    _ => {
                        let mailbox = Arc::new(Mailbox::default());
                        runtime.spawn(Arc::clone(&mailbox).serve());
                        *mine = Some((runtime.id(), Arc::clone(&mailbox)));
                        mailbox
                    }
                }
            })
            .ok()
    }

    /// The answering task: hands each answer to its task, on this thread. (It ends with its
    /// runtime; the tasks it would have answered end with the same runtime.)
    async fn serve(self: Arc<Self>) {
        loop {
            self.ready.notified().await;
            let answers = std::mem::take(
                &mut *self
                    .answers
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()),
            );
            for answer in answers {
                answer();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn single_threaded() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn each_task_on_a_single_threaded_runtime_gets_its_own_answer_through_one_mailbox() {
        single_threaded().block_on(async {
            let (replies, answers): (Vec<_>, Vec<_>) =
                (0..12).map(|_| ReplyTo::<usize>::this_task()).unzip();
            let first = replies[0]
                .mailbox
                .clone()
                .expect("a mailbox on this thread");
            assert!(replies
                .iter()
                .all(|r| r.mailbox.as_ref().is_some_and(|m| Arc::ptr_eq(m, &first))));
            // The writer answers from its own thread.
            std::thread::spawn(move || {
                ReplyTo::answer_all(replies.into_iter().enumerate().map(|(i, r)| (r, i * 7)))
            })
            .join()
            .unwrap();
            for (i, answer) in answers.into_iter().enumerate() {
                assert_eq!(answer.await, Ok(i * 7), "task {i}");
            }
        });
    }

    #[test]
    fn a_task_on_a_multi_threaded_runtime_is_answered_directly() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        runtime.block_on(async {
            let (reply, answer) = ReplyTo::<&str>::this_task();
            assert!(reply.mailbox.is_none());
            ReplyTo::answer_all([(reply, "refused")]);
            assert_eq!(answer.await, Ok("refused"));
        });
    }

    #[test]
    fn a_thread_that_runs_a_new_runtime_gets_a_new_mailbox_that_answers() {
        let old = single_threaded().block_on(async {
            let (reply, _answer) = ReplyTo::<()>::this_task();
            reply.mailbox.expect("a mailbox")
        });
        single_threaded().block_on(async {
            let (reply, answer) = ReplyTo::<()>::this_task();
            let new = reply.mailbox.clone().expect("a mailbox");
            assert!(!Arc::ptr_eq(&old, &new));
            ReplyTo::answer_all([(reply, ())]);
            assert_eq!(answer.await, Ok(()));
        });
    }
}
