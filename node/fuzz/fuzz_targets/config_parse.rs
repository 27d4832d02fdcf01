//! Fuzz target: `Config::parse` (lotse.toml) must never panic, and what it accepts must
//! survive `to_toml` and parse to the same configuration.

#![no_main]

use libfuzzer_sys::fuzz_target;
use lotse_node::config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(config) = Config::parse(text) {
        let again = Config::parse(&config.to_toml());
        assert_eq!(again, Ok(config), "an accepted configuration must round-trip");
    }
});
