//! The API: `AnycastService`, `AnycastPool` and `AnycastAdvertisement` in group
//! `kube-anycast.io`, version `v1alpha1`.
//!
//! The CRDs are generated from these types (`kube-anycast crd`) and committed under `crds/`;
//! `docs/api.md` is generated from the same schemas. Tests fail when either is stale, so the
//! types are the single source of truth.

pub mod advertisement;
mod docs;
pub mod pool;
pub mod service;

use std::path::{Path, PathBuf};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};
use kube::{CustomResourceExt, KubeSchema};
use serde::{Deserialize, Serialize};

pub use advertisement::{AdvertisedState, AnycastAdvertisement, AnycastAdvertisementSpec};
pub use docs::render_markdown;
pub use pool::{AnycastPool, AnycastPoolSpec, DEFAULT_MED_OFFSET_ANNOTATION, DrainMode};
pub use service::{AnycastService, AnycastServiceSpec};

/// The API group.
pub const GROUP: &str = "kube-anycast.io";

/// A Go-style duration such as `5s`, `1m30s` or `500ms` (what `kubectl` users know).
pub const DURATION_PATTERN: &str = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$";

/// Communities added to every announcement (of a service, or from a pool), in the three kinds.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Communities {
    /// Standard communities: `ASN:VALUE`, a 32-bit number, or a well-known name such as
    /// `no-export`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 32),
        inner(length(min = 1, max = 32), pattern(r"^[0-9A-Za-z:-]+$"))
    )]
    pub communities: Vec<String>,
    /// Extended communities: `target:ASN:N`, `origin:IPv4:N`, `redirect:ASN:N` or `0x` and 16
    /// hex digits.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 32),
        inner(length(min = 1, max = 40), pattern(r"^[0-9A-Za-z:.]+$"))
    )]
    pub extended_communities: Vec<String>,
    /// Large communities: `GLOBAL:LOCAL1:LOCAL2`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), inner(pattern(r"^[0-9]+:[0-9]+:[0-9]+$")))]
    pub large_communities: Vec<String>,
}

/// Attributes carried by every announcement of a service.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct BgpAttributes {
    /// `LOCAL_PREF` (meaningful over iBGP only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = 4_294_967_295_u32))]
    pub local_preference: Option<u32>,
    /// Communities on every announcement of the service.
    #[serde(default, flatten)]
    pub added: Communities,
    /// AS numbers to prepend to the AS path, separated by spaces, e.g. `65000 65000`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128), pattern(r"^[0-9]+( [0-9]+)*$"))]
    pub as_path_prepend: Option<String>,
    /// ADD-PATH path identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = 4_294_967_295_u32))]
    pub path_id: Option<u32>,
}

/// Why the CRDs could not be rendered or written.
#[derive(Debug, thiserror::Error)]
pub enum CrdError {
    /// Serializing a CRD to YAML failed.
    #[error("failed to render CRD {name} as YAML")]
    Render {
        /// The CRD's name.
        name: String,
        /// The serializer's error.
        #[source]
        source: serde_saphyr::ser_error::Error,
    },
    /// Writing a file failed.
    #[error("failed to write {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// Every CRD, in a fixed order, as committed under `crds/`.
pub fn definitions() -> Vec<CustomResourceDefinition> {
    let mut crds = vec![
        AnycastService::crd(),
        AnycastPool::crd(),
        AnycastAdvertisement::crd(),
    ];
    for crd in &mut crds {
        for version in &mut crd.spec.versions {
            if let Some(schema) = version
                .schema
                .as_mut()
                .and_then(|s| s.open_api_v3_schema.as_mut())
            {
                strip_unknown_formats(schema);
            }
        }
    }
    crds
}

/// Drops the integer formats schemars writes for Rust's unsigned and small types (`uint32`,
/// `uint8`, ...): the API server does not know them and warns about each on every apply. The
/// ranges they imply are already in `minimum`/`maximum`.
fn strip_unknown_formats(schema: &mut JSONSchemaProps) {
    if schema
        .format
        .as_deref()
        .is_some_and(|f| f.starts_with("uint") || f == "int8" || f == "int16")
    {
        schema.format = None;
    }
    for prop in schema.properties.iter_mut().flat_map(|p| p.values_mut()) {
        strip_unknown_formats(prop);
    }
    if let Some(JSONSchemaPropsOrArray::Schema(item)) = schema.items.as_mut() {
        strip_unknown_formats(item);
    }
    if let Some(JSONSchemaPropsOrBool::Schema(value)) = schema.additional_properties.as_mut() {
        strip_unknown_formats(value);
    }
}

/// Each CRD as a file name (`<plural>.<group>.yaml`) and its YAML text.
pub fn render_files() -> Result<Vec<(String, String)>, CrdError> {
    definitions()
        .iter()
        .map(|crd| {
            let name = crd.metadata.name.clone().unwrap_or_default();
            let yaml = serde_saphyr::to_string(crd).map_err(|source| CrdError::Render {
                name: name.clone(),
                source,
            })?;
            Ok((format!("{name}.yaml"), yaml))
        })
        .collect()
}

/// Every CRD as one multi-document YAML stream.
pub fn render_stream() -> Result<String, CrdError> {
    let mut out = String::new();
    for (_, yaml) in render_files()? {
        out.push_str("---\n");
        out.push_str(&yaml);
    }
    Ok(out)
}

/// Writes one file per CRD into `dir` and returns their paths.
pub fn write_dir(dir: &Path) -> Result<Vec<PathBuf>, CrdError> {
    std::fs::create_dir_all(dir).map_err(|source| CrdError::Write {
        path: dir.to_owned(),
        source,
    })?;
    render_files()?
        .into_iter()
        .map(|(name, yaml)| {
            let path = dir.join(name);
            std::fs::write(&path, yaml).map_err(|source| CrdError::Write {
                path: path.clone(),
                source,
            })?;
            Ok(path)
        })
        .collect()
}

#[cfg(test)]
mod tests;
