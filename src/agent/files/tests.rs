use super::*;

fn docs(yaml: &str) -> Vec<(String, Value)> {
    serde_saphyr::from_multiple::<Value>(yaml)
        .unwrap()
        .into_iter()
        .enumerate()
        .map(|(i, v)| (format!("test.yaml (document {})", i + 1), v))
        .collect()
}

const GOOD: &str = r#"
apiVersion: kube-anycast.io/v1alpha1
kind: AnycastPool
metadata: {name: lab}
spec:
  cidrs: ["192.0.2.0/24"]
---
apiVersion: kube-anycast.io/v1alpha1
kind: AnycastService
metadata: {name: web}
spec:
  addresses: ["192.0.2.10"]
  probes:
    - name: http
      tcp: {port: 80}
---
apiVersion: kube-anycast.io/v1alpha1
kind: AnycastService
metadata: {name: bad, namespace: team}
spec:
  addresses: ["192.0.2.11"]
  communities: ["65000:1 ] med 1 ["]
---
apiVersion: v1
kind: Node
metadata:
  name: edge-1
  annotations: {kube-anycast.io/med-offset: "20"}
spec: {unschedulable: true}
"#;

#[test]
fn documents_become_a_world_and_bad_ones_are_reported_by_file_and_field() {
    let (world, errors) = world_from_documents(docs(GOOD), "fallback");
    assert!(world.pools["lab"].is_ok());
    assert!(
        world.services[&ServiceKey::new("default", "web")].is_ok(),
        "{:?}",
        world.services
    );
    let bad = &world.services[&ServiceKey::new("team", "bad")];
    let e = bad.as_ref().as_ref().unwrap_err().to_string();
    assert!(e.contains("spec.communities[0]"), "{e}");
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0]
            .to_string()
            .starts_with("test.yaml (document 3): AnycastService team/bad"),
        "{}",
        errors[0]
    );
    assert_eq!(world.node.name, "edge-1");
    assert!(world.node.unschedulable);
    assert_eq!(world.node.annotations["kube-anycast.io/med-offset"], "20");
    assert!(world.endpoints.is_none());
}

#[test]
fn unknown_kinds_and_nameless_documents_are_errors() {
    let (world, errors) = world_from_documents(
        docs("kind: ConfigMap\nmetadata: {name: x}\n---\nkind: AnycastPool\nmetadata: {}\n"),
        "n1",
    );
    assert!(world.services.is_empty() && world.pools.is_empty());
    assert_eq!(world.node.name, "n1");
    assert_eq!(errors.len(), 2);
    assert!(errors[0].message.contains("unsupported kind \"ConfigMap\""));
}

#[test]
fn load_reads_a_directory_and_names_broken_files() {
    let dir = std::env::temp_dir().join(format!("kat-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("a.yaml"), GOOD).unwrap();
    std::fs::write(dir.join("b.yml"), "kind: [unclosed\n").unwrap();
    std::fs::write(dir.join("ignored.txt"), "not yaml").unwrap();
    let (world, errors) = load(&dir, "n1");
    assert_eq!(world.services.len(), 2);
    assert!(
        errors
            .iter()
            .any(|e| e.file.ends_with("b.yml") && e.message.contains("not valid YAML")),
        "{errors:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
