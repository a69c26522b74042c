//! The vocabulary the data layers' verdicts share: a verdict with its reason and message, how ages and zones are
//! written in them, and how another operator's kind is made watchable without its crate.

use crate::{api::Span, verdict::Verdict};

/// A verdict, its reason and its message (as every objective's).
pub type Judged = (Verdict, &'static str, String);

/// `kube::Resource` for a slim type of another operator's kind, so that it can be watched and cached without that
/// operator's crate.
macro_rules! custom_resource {
    ($ty:ty, $group:literal, $version:literal, $kind:literal, $plural:literal) => {
        impl kube::Resource for $ty {
            type DynamicType = ();
            type Scope = k8s_openapi::NamespaceResourceScope;

            fn kind(_: &()) -> std::borrow::Cow<'_, str> {
                $kind.into()
            }
            fn group(_: &()) -> std::borrow::Cow<'_, str> {
                $group.into()
            }
            fn version(_: &()) -> std::borrow::Cow<'_, str> {
                $version.into()
            }
            fn api_version(_: &()) -> std::borrow::Cow<'_, str> {
                concat!($group, "/", $version).into()
            }
            fn plural(_: &()) -> std::borrow::Cow<'_, str> {
                $plural.into()
            }
            fn meta(&self) -> &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                &self.metadata
            }
            fn meta_mut(&mut self) -> &mut k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                &mut self.metadata
            }
        }
    };
}
pub(super) use custom_resource;

/// An age to the minute (to the second below a minute).
pub fn minutes(age: Span) -> Span {
    let s = age.as_secs();
    Span::from_secs(if s >= 60 { s - s % 60 } else { s })
}

/// Zones in a short line: `eu-south-1a/b/c` when they differ only in their last character.
pub fn zones_line(zones: &[&str]) -> String {
    let mut z: Vec<&str> = zones.to_vec();
    z.sort_unstable();
    z.dedup();
    let Some(first) = z.first() else { return "no zone".into() };
    let stem = &first[..first.len().saturating_sub(1)];
    if z.len() > 1
        && !stem.is_empty()
        && z.iter().all(|x| x.len() == first.len() && x.starts_with(stem) && x.is_char_boundary(stem.len()))
    {
        let tails: Vec<&str> = z.iter().map(|x| &x[stem.len()..]).collect();
        format!("{stem}{}", tails.join("/"))
    } else {
        z.join(", ")
    }
}
