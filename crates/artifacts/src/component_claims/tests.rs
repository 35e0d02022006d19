use super::*;

const NOW: Duration = Duration::from_secs(1_750_000_000);

#[test]
fn what_sign_component_signs_verifies_and_survives_a_second_signature() {
    let wasm = wat::parse_str("(component (core module (func (export \"f\"))))").unwrap();
    let account = nkeys::KeyPair::new_account();
    let module = nkeys::KeyPair::new_module();
    let metadata = ComponentMetadata {
        name: Some("f".into()),
        tags: vec!["t".into()],
        revision: Some(4),
        version: Some("1.0.0".into()),
        ..Default::default()
    };
    let signed = sign_component(&wasm, &metadata, &account, &module).unwrap();
    let claims = verify_component_claims(&signed).unwrap().expect("signed");
    assert_eq!(claims.subject, module.public_key());
    assert_eq!(claims.name.as_deref(), Some("f"));
    assert_eq!(claims.revision, Some(4));
    // Signing again replaces the section rather than adding one.
    let other = nkeys::KeyPair::new_module();
    let again = sign_component(&signed, &metadata, &account, &other).unwrap();
    assert_eq!(
        verify_component_claims(&again).unwrap().unwrap().subject,
        other.public_key()
    );
    assert!(sign_component(&wasm, &metadata, &module, &module).is_err());
    let expired = ComponentMetadata {
        not_before_in: Some(3600),
        ..metadata
    };
    let early = sign_component(&wasm, &expired, &account, &module).unwrap();
    assert!(matches!(
        verify_component_claims(&early),
        Err(ClaimsError::NotYetValid { .. })
    ));
}

fn hash_of(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

fn token(claims: serde_json::Value, key: &nkeys::KeyPair) -> String {
    let enc = |v: &serde_json::Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
    let signed = format!(
        "{}.{}",
        enc(&serde_json::json!({"typ":"jwt","alg":"Ed25519"})),
        enc(&claims)
    );
    let signature = URL_SAFE_NO_PAD.encode(key.sign(signed.as_bytes()).unwrap());
    format!("{signed}.{signature}")
}

fn claims_json(account: &nkeys::KeyPair, module: &nkeys::KeyPair, hash: &str) -> serde_json::Value {
    serde_json::json!({
        "jti": "id", "iat": 1, "iss": account.public_key(), "sub": module.public_key(),
        "wascap": {"name": "math", "hash": hash, "tags": ["a"], "rev": 2, "ver": "0.1.0", "prov": false},
        "wascap_revision": 3
    })
}

/// A component whose nested core module carries a `jwt` section, and the same
/// without it: stripping gives the second exactly.
#[test]
fn stripping_removes_nested_sections_and_keeps_the_rest() {
    let with = wat::parse_str(
        r#"(component (core module $m (@custom "jwt" "nested") (func (export "f"))) (@custom "other" "kept"))"#,
    )
    .unwrap();
    let without = wat::parse_str(
        r#"(component (core module $m (func (export "f"))) (@custom "other" "kept"))"#,
    )
    .unwrap();
    assert_ne!(with, without);
    assert_eq!(strip_claims_sections(&with).unwrap(), without);
    assert_eq!(strip_claims_sections(&without).unwrap(), without);
    // `jwt` is read at any depth (a wascap quirk): this one is not a token.
    assert!(matches!(
        verify_at(&with, NOW),
        Err(ClaimsError::Undecodable(_))
    ));
}

#[test]
fn non_minimal_sizes_are_re_encoded_as_wascap_does() {
    // A module with an empty type section whose size is padded to 5 bytes.
    let mut padded = MODULE_HEADER.to_vec();
    padded.extend_from_slice(&[1, 0x81, 0x80, 0x80, 0x80, 0x00, 0x00]);
    let mut minimal = MODULE_HEADER.to_vec();
    minimal.extend_from_slice(&[1, 1, 0]);
    assert_eq!(strip_claims_sections(&padded).unwrap(), minimal);
}

#[test]
fn a_signed_module_verifies_and_each_fault_is_named() {
    let account = nkeys::KeyPair::new_account();
    let module = nkeys::KeyPair::new_module();
    let base = wat::parse_str(r#"(module (func (export "f")))"#).unwrap();
    let hash = hash_of(&base);
    let sign = |claims: serde_json::Value, key: &nkeys::KeyPair, name: &str| {
        let mut bytes = base.clone();
        bytes.extend(custom_section(name, token(claims, key).as_bytes()));
        bytes
    };

    let good = sign(
        claims_json(&account, &module, &hash),
        &account,
        SECTION_WC_JWT,
    );
    let claims = verify_at(&good, NOW).unwrap().unwrap();
    assert_eq!(claims.subject, module.public_key());
    assert_eq!(claims.name.as_deref(), Some("math"));
    assert_eq!(claims.revision, Some(2));
    let legacy = sign(claims_json(&account, &module, &hash), &account, SECTION_JWT);
    assert!(verify_at(&legacy, NOW).unwrap().is_some());
    assert_eq!(verify_at(&base, NOW), Ok(None));

    let mut expired = claims_json(&account, &module, &hash);
    expired["exp"] = (NOW.as_secs() - 2 * 86_400 - 5).into();
    let error = verify_at(&sign(expired, &account, SECTION_WC_JWT), NOW).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("token expired at `2days ago`"),
        "{error}"
    );

    let mut early = claims_json(&account, &module, &hash);
    early["nbf"] = (NOW.as_secs() + 3_700).into();
    let error = verify_at(&sign(early, &account, SECTION_WC_JWT), NOW).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("token not valid before `in 1h`"),
        "{error}"
    );

    let other = nkeys::KeyPair::new_account();
    let error = verify_at(
        &sign(
            claims_json(&account, &module, &hash),
            &other,
            SECTION_WC_JWT,
        ),
        NOW,
    )
    .unwrap_err();
    assert!(matches!(error, ClaimsError::BadSignature { .. }), "{error}");

    // The same token on other bytes.
    let mut tampered = wat::parse_str(r#"(module (func (export "g")))"#).unwrap();
    tampered.extend_from_slice(&good[base.len()..]);
    let error = verify_at(&tampered, NOW).unwrap_err();
    assert!(matches!(error, ClaimsError::HashMismatch { .. }), "{error}");
    // Legacy tokens (revision < 3) carry no checked hash.
    let mut legacy_claims = claims_json(&account, &module, "OLD");
    legacy_claims["wascap_revision"] = 2.into();
    assert!(
        verify_at(&sign(legacy_claims, &account, SECTION_WC_JWT), NOW)
            .unwrap()
            .is_some()
    );

    let mut garbage = base.clone();
    garbage.extend(custom_section(SECTION_WC_JWT, b"not.a-token"));
    assert!(matches!(
        verify_at(&garbage, NOW),
        Err(ClaimsError::Undecodable(_))
    ));
}

#[test]
fn human_stamps_follow_wascap() {
    assert_eq!(stamp_to_human(NOW.as_secs() - 90_000, NOW), "1day ago");
    assert_eq!(stamp_to_human(NOW.as_secs() + 125, NOW), "in 2m");
    assert_eq!(stamp_to_human(NOW.as_secs(), NOW), "in 0s");
}
