//! Fuzz target: the records of a decrypted backup (`lotse backup check` and `restore` read
//! them after age has authenticated the file) must never panic or claim memory a length
//! field asks for, whatever bytes they are.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = lotse_node::backup::check_records(data);
});
