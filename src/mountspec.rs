//! Parsing of -v / --mount / --tmpfs strings into typed requests.
