//! Small bindings to the JavaScript globals the module needs, taken from the
//! global scope so that the module works in a window and in a worker alike.

use js_sys::{Object, Reflect};
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    pub fn now() -> f64;

    /// `String(value)`: a string form of any value.
    #[wasm_bindgen(js_name = String)]
    pub fn to_js_string(value: &JsValue) -> String;

    #[wasm_bindgen(js_namespace = console, js_name = error)]
    pub fn console_error(message: &str, error: &JsValue);
}

/// A plain object built field by field.
pub struct ObjectBuilder(Object);

impl ObjectBuilder {
    pub fn new() -> ObjectBuilder {
        ObjectBuilder(Object::new())
    }

    pub fn set(self, name: &str, value: impl Into<JsValue>) -> ObjectBuilder {
        Reflect::set(&self.0, &JsValue::from_str(name), &value.into())
            .unwrap_or_else(|_| unreachable!("setting a field of a fresh object cannot fail"));
        self
    }

    pub fn build(self) -> JsValue {
        self.0.into()
    }
}

/// `value[name]`, or `undefined` when `value` is not an object.
pub fn get(value: &JsValue, name: &str) -> JsValue {
    Reflect::get(value, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED)
}

/// A short text for a thrown JavaScript value: `Name: message`, or its string form.
pub fn describe_thrown(value: &JsValue) -> String {
    let name = get(value, "name").as_string();
    let message = get(value, "message").as_string();
    match (name, message) {
        (Some(name), Some(message)) if !message.is_empty() => [name, message].join(": "),
        (Some(name), _) => name,
        (None, Some(message)) => message,
        (None, None) => to_js_string(value),
    }
}
