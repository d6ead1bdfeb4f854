//! Futures woken by JavaScript callbacks: a timer, an `AbortSignal`. Each
//! undoes its JavaScript side when dropped (clear the timer, remove the
//! listener), so that nothing fires into a finished call.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::AbortSignal;

use super::js;

/// A flag set by a JavaScript callback, with the waker to call when it is.
#[derive(Default)]
struct Flag {
    fired: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

/// A JavaScript function that, when called, sets a flag and wakes its waiter.
struct Trigger {
    flag: Rc<Flag>,
    callback: Closure<dyn FnMut()>,
}

impl Trigger {
    fn new() -> Trigger {
        let flag = Rc::new(Flag::default());
        let on_call = flag.clone();
        let callback = Closure::<dyn FnMut()>::new(move || {
            on_call.fired.set(true);
            if let Some(waker) = on_call.waker.borrow_mut().take() {
                waker.wake();
            }
        });
        Trigger { flag, callback }
    }

    fn function(&self) -> &js_sys::Function {
        self.callback.as_ref().unchecked_ref()
    }

    fn poll_fired(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.flag.fired.get() {
            return Poll::Ready(());
        }
        *self.flag.waker.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// Resolves after `ms` milliseconds.
pub struct Sleep {
    trigger: Trigger,
    timer: JsValue,
}

pub fn sleep(ms: f64) -> Sleep {
    let trigger = Trigger::new();
    let timer = js::set_timeout(trigger.function(), ms.max(0.0));
    Sleep { trigger, timer }
}

impl Future for Sleep {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.trigger.poll_fired(cx)
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        js::clear_timeout(&self.timer);
    }
}

/// Watches the caller's `AbortSignal` (if any) for the whole upload.
pub struct AbortWatch {
    trigger: Trigger,
    signal: Option<AbortSignal>,
}

impl AbortWatch {
    pub fn new(signal: Option<AbortSignal>) -> AbortWatch {
        let trigger = Trigger::new();
        if let Some(signal) = &signal {
            if signal.aborted() {
                trigger.flag.fired.set(true);
            } else {
                signal
                    .add_event_listener_with_callback("abort", trigger.function())
                    .expect("an AbortSignal takes listeners");
            }
        }
        AbortWatch { trigger, signal }
    }

    pub fn aborted(&self) -> bool {
        self.trigger.flag.fired.get()
    }

    /// The caller's signal, for the driver of the requests.
    pub fn signal(&self) -> Option<AbortSignal> {
        self.signal.clone()
    }

    /// The abort's reason, kept as the `cause` of the AbortError.
    pub fn reason(&self) -> JsValue {
        self.signal
            .as_ref()
            .map_or(JsValue::UNDEFINED, |s| s.reason())
    }

    /// Ready once the signal has aborted (never, without a signal).
    pub fn poll_aborted(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.trigger.poll_fired(cx)
    }
}

impl Drop for AbortWatch {
    fn drop(&mut self) {
        if let Some(signal) = &self.signal {
            let _ = signal.remove_event_listener_with_callback("abort", self.trigger.function());
        }
    }
}
