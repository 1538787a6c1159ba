//! Named volumes under <data>/volumes/NAME/_data.
