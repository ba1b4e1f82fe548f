//! The rate language in the browser: the console's playground calls the `dsl` crate, compiled
//! to `wasm32-unknown-unknown`, through one JSON request/response function.
//!
//! The ABI is three exported functions and needs no generated glue (`console/web/rates.js`
//! is the whole loader):
//!
//! 1. `console_input(len) -> ptr`: makes the input buffer `len` bytes long and answers where
//!    it is; the caller writes the UTF-8 JSON request there.
//! 2. `console_call() -> len`: answers the request; the JSON response is `len` bytes long.
//! 3. `console_output() -> ptr`: where the response is.
//!
//! The requests and responses are [`api`]'s, which the native tests call directly.

pub mod api;

use std::cell::{Cell, RefCell};

thread_local! {
    static INPUT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    static OUTPUT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    /// The length last asked of `console_input` when it was over the limit.
    static REFUSED_LEN: Cell<usize> = const { Cell::new(0) };
}

/// Resizes the input buffer to `len` bytes (zeroed) and answers its address. A length over
/// [`api::MAX_REQUEST_BYTES`] leaves an empty buffer and `console_call` answers an error.
fn input(len: usize) -> *mut u8 {
    INPUT.with(|buffer| {
        let mut buffer = buffer.borrow_mut();
        buffer.clear();
        if len > api::MAX_REQUEST_BYTES {
            REFUSED_LEN.with(|refused| refused.set(len));
        } else {
            REFUSED_LEN.with(|refused| refused.set(0));
            buffer.resize(len, 0);
        }
        buffer.as_mut_ptr()
    })
}

/// Answers the request in the input buffer into the output buffer; answers its length.
fn call() -> usize {
    let refused = REFUSED_LEN.with(Cell::get);
    let response = if refused > 0 {
        api::too_large(refused)
    } else {
        INPUT.with(|buffer| api::handle(&buffer.borrow()))
    };
    OUTPUT.with(|output| {
        let mut output = output.borrow_mut();
        *output = response.into_bytes();
        output.len()
    })
}

fn output() -> *const u8 {
    OUTPUT.with(|output| output.borrow().as_ptr())
}

/// The exported symbols. Exporting an unmangled name is the only thing here the compiler
/// calls unsafe; no pointer is dereferenced on the Rust side (the host writes and reads the
/// buffers, whose addresses stay valid until the next call).
#[allow(unsafe_code)]
mod abi {
    #[unsafe(no_mangle)]
    pub extern "C" fn console_input(len: usize) -> *mut u8 {
        super::input(len)
    }

    #[unsafe(no_mangle)]
    pub extern "C" fn console_call() -> usize {
        super::call()
    }

    #[unsafe(no_mangle)]
    pub extern "C" fn console_output() -> *const u8 {
        super::output()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    /// What the JavaScript loader does, with the buffers written and read in Rust.
    fn round_trip(request: &[u8]) -> serde_json::Value {
        let pointer = input(request.len());
        INPUT.with(|buffer| {
            let mut buffer = buffer.borrow_mut();
            assert_eq!(buffer.as_mut_ptr(), pointer);
            buffer.copy_from_slice(request);
        });
        let len = call();
        assert_eq!(OUTPUT.with(|output| output.borrow().as_ptr()), output());
        let bytes = OUTPUT.with(|output| output.borrow()[..len].to_vec());
        serde_json::from_slice(&bytes).unwrap()
    }

    #[test]
    fn a_request_written_into_the_input_is_answered_in_the_output() {
        let source = include_str!("../../../rates/invideo.rates");
        let request =
            serde_json::json!({"op": "analyse", "name": "invideo.rates", "source": source});
        let response = round_trip(request.to_string().as_bytes());
        assert_eq!(response["ok"], true);
    }

    #[test]
    fn a_request_over_the_limit_is_refused_without_its_buffer() {
        let pointer = input(api::MAX_REQUEST_BYTES + 1);
        assert!(!pointer.is_null());
        assert_eq!(INPUT.with(|buffer| buffer.borrow().len()), 0);
        let len = call();
        let bytes = OUTPUT.with(|output| output.borrow()[..len].to_vec());
        let response: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(response["ok"], false);
        // The next request of a usable size is answered again.
        let response = round_trip(br#"{"op": "fly"}"#);
        assert_eq!(response["error"]["message"], "unknown op `fly`");
    }
}
