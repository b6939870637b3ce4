//! Profile values that can only be built valid (parse, don't validate): past the HTTP edge,
//! code never re-checks a bio, an avatar URL or a locale. E-mail and display name are the
//! shared ones from `marquee_common::domain`.

mod avatar_url;
mod bio;
mod changes;
mod locale;

pub use avatar_url::AvatarUrl;
pub use bio::Bio;
pub use changes::{ProfileChanges, ProfileChangesRequest};
pub use locale::Locale;
pub use marquee_common::domain::{DisplayName, Email, Invalid};
