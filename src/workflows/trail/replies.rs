//! Answering the requests of a committed batch with one wake-up per thread, not per request.
//!
//! The requests waiting for a batch run on the HTTP worker threads; the writer runs on another.
//! Waking a task on another thread costs a system call (the target runtime's `eventfd`) every
//! time, so answering a 30-row batch task by task costs 30 of them, and each may wake its thread
//! again. Instead, each worker thread has a [`Mailbox`] served by one task of its own: the writer
//! puts all of that thread's answers in it and wakes that one task, which answers each request on
//! its own thread, where a wake-up is a push onto the runtime's queue.
//!
//! Only threads that run a single-threaded runtime (the HTTP workers are such) get a mailbox: on a
//! multi-threaded runtime a task may move between threads, so its answer goes to it directly.

use std::cell::RefCell;
use std::sync::{Arc, Mutex};

use tokio::runtime::{self, Handle, RuntimeFlavor};
use tokio::sync::{oneshot, Notify};

use super::deliveries::DeliveryError;

/// What a request waiting for its delivery row learns.
pub(super) type Outcome = Result<(), DeliveryError>;

/// An answer on its way to the request that waits for it.
type Answer = (oneshot::Sender<Outcome>, Outcome);

/// Where a request's answer goes.
pub(super) struct ReplyTo {
    done: oneshot::Sender<Outcome>,
    /// The mailbox of the request's thread, if it has one.
    mailbox: Option<Arc<Mailbox>>,
}

/// The answers waiting for one thread's answering task.
#[derive(Default)]
pub(super) struct Mailbox {
    answers: Mutex<Vec<Answer>>,
    ready: Notify,
}

thread_local! {
    /// This thread's mailbox, with the runtime its answering task runs on.
    static MAILBOX: RefCell<Option<(runtime::Id, Arc<Mailbox>)>> = const { RefCell::new(None) };
}

impl ReplyTo {
    /// A reply to the calling task: through its thread's mailbox when it runs on a
    /// single-threaded runtime (started with its answering task on first use).
    pub(super) fn this_task() -> (Self, oneshot::Receiver<Outcome>) {
        let (done, answer) = oneshot::channel();
        let mailbox = Handle::try_current()
            .ok()
            .filter(|runtime| runtime.runtime_flavor() == RuntimeFlavor::CurrentThread)
            .map(|runtime| Mailbox::of_this_thread(&runtime));
        (Self { done, mailbox }, answer)
    }

    /// Answers every request of a batch: one wake-up for each thread with a mailbox, and each
    /// other request directly.
    pub(super) fn answer_all(replies: impl IntoIterator<Item = (ReplyTo, Outcome)>) {
        let mut by_thread: Vec<(Arc<Mailbox>, Vec<Answer>)> = Vec::new();
        for (reply, outcome) in replies {
            let Some(mailbox) = reply.mailbox else {
                let _ = reply.done.send(outcome);
                continue;
            };
            match by_thread.iter_mut().find(|(m, _)| Arc::ptr_eq(m, &mailbox)) {
                Some((_, answers)) => answers.push((reply.done, outcome)),
                None => by_thread.push((mailbox, vec![(reply.done, outcome)])),
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
    /// This thread's mailbox for `runtime`; a new one (and its task) the first time, or when the
    /// thread now runs another runtime.
    fn of_this_thread(runtime: &Handle) -> Arc<Self> {
        MAILBOX.with_borrow_mut(|mine| match mine {
            Some((id, mailbox)) if *id == runtime.id() => Arc::clone(mailbox),
            _ => {
                let mailbox = Arc::new(Mailbox::default());
                runtime.spawn(Arc::clone(&mailbox).serve());
                *mine = Some((runtime.id(), Arc::clone(&mailbox)));
                mailbox
            }
        })
    }

    /// The answering task: hands each answer to its request, on this thread. (It ends with its
    /// runtime; answers still in the mailbox then are dropped, which their requests, gone with
    /// the same runtime, never see.)
    async fn serve(self: Arc<Self>) {
        loop {
            self.ready.notified().await;
            let answers = std::mem::take(
                &mut *self
                    .answers
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()),
            );
            for (done, outcome) in answers {
                let _ = done.send(outcome);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome_for(i: usize) -> Outcome {
        if i % 3 == 0 {
            Err(DeliveryError::Refused)
        } else {
            Ok(())
        }
    }

    fn single_threaded() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn each_request_on_a_single_threaded_runtime_gets_its_own_answer_through_one_mailbox() {
        single_threaded().block_on(async {
            let (replies, answers): (Vec<_>, Vec<_>) =
                (0..12).map(|_| ReplyTo::this_task()).unzip();
            let first = replies[0]
                .mailbox
                .clone()
                .expect("a mailbox on this thread");
            assert!(replies
                .iter()
                .all(|r| r.mailbox.as_ref().is_some_and(|m| Arc::ptr_eq(m, &first))));
            // The writer answers from its own thread.
            std::thread::spawn(move || {
                ReplyTo::answer_all(
                    replies
                        .into_iter()
                        .enumerate()
                        .map(|(i, r)| (r, outcome_for(i))),
                )
            })
            .join()
            .unwrap();
            for (i, answer) in answers.into_iter().enumerate() {
                let got = answer.await.expect("answered");
                assert_eq!(got.is_ok(), outcome_for(i).is_ok(), "request {i}");
            }
        });
    }

    #[test]
    fn a_request_on_a_multi_threaded_runtime_is_answered_directly() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        runtime.block_on(async {
            let (reply, answer) = ReplyTo::this_task();
            assert!(reply.mailbox.is_none());
            ReplyTo::answer_all([(reply, Err(DeliveryError::Refused))]);
            assert!(matches!(answer.await, Ok(Err(DeliveryError::Refused))));
        });
    }

    #[test]
    fn a_thread_that_runs_a_new_runtime_gets_a_new_mailbox_that_answers() {
        let old = single_threaded().block_on(async {
            let (reply, _answer) = ReplyTo::this_task();
            reply.mailbox.expect("a mailbox")
        });
        single_threaded().block_on(async {
            let (reply, answer) = ReplyTo::this_task();
            let new = reply.mailbox.clone().expect("a mailbox");
            assert!(!Arc::ptr_eq(&old, &new));
            ReplyTo::answer_all([(reply, Ok(()))]);
            assert!(matches!(answer.await, Ok(Ok(()))));
        });
    }
}
