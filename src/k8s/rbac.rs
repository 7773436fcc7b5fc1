//! The agent's least-privilege RBAC rules, kept once in `src/k8s/rbac.yaml` (a ClusterRole named
//! [`CLUSTER_ROLE`]). The Helm chart copies the rules; the integration tests bind exactly this
//! role to the agent's ServiceAccount to prove the rules suffice and nothing more is granted.

/// The ClusterRole as YAML.
pub const CLUSTER_ROLE_YAML: &str = include_str!("rbac.yaml");

/// Its name.
pub const CLUSTER_ROLE: &str = "kube-anycast-agent";
