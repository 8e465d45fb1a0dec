//! Interop with wasmsign2 (the library, a pinned dev-dependency): files it
//! signs verify here, files signed here verify there, and for the same key
//! and file both write the same bytes. Test inputs are built in code, so no
//! binary fixture is committed.

use std::io::Cursor;

use wasm_encoder::{
    CodeSection, Component, ExportKind, ExportSection, Function, FunctionSection, Instruction,
    Module, ModuleSection, TypeSection, ValType,
};

use super::*;

/// A valid core module exporting `add(i32, i32) -> i32`.
fn module() -> Module {
    let mut m = Module::new();
    let mut types = TypeSection::new();
    types
        .ty()
        .function([ValType::I32, ValType::I32], [ValType::I32]);
    m.section(&types);
    let mut funcs = FunctionSection::new();
    funcs.function(0);
    m.section(&funcs);
    let mut exports = ExportSection::new();
    exports.export("add", ExportKind::Func, 0);
    m.section(&exports);
    let mut code = CodeSection::new();
    let mut add = Function::new([]);
    add.instruction(&Instruction::LocalGet(0))
        .instruction(&Instruction::LocalGet(1))
        .instruction(&Instruction::I32Add)
        .instruction(&Instruction::End);
    code.function(&add);
    m.section(&code);
    m
}

/// A valid component holding that module (plugins are components).
fn component() -> Vec<u8> {
    let mut c = Component::new();
    c.section(&ModuleSection(&module()));
    c.finish()
}

/// Both kinds of file, each still valid WebAssembly for wasmtime.
fn inputs() -> Vec<(&'static str, Vec<u8>)> {
    vec![("module", module().finish()), ("component", component())]
}

fn assert_loads(what: &str, wasm: &[u8]) {
    let engine = wasmtime::Engine::default();
    let ok = match what {
        "module" => wasmtime::Module::new(&engine, wasm).map(drop),
        _ => wasmtime::component::Component::new(&engine, wasm).map(drop),
    };
    ok.unwrap_or_else(|e| panic!("the signed {what} is no longer valid: {e:#}"));
}

/// usersync's key pair as wasmsign2 reads it from the same key file.
fn theirs(pair: &KeyPair) -> wasmsign2::KeyPair {
    let sk = wasmsign2::SecretKey::from_bytes(&pair.to_bytes()).unwrap();
    let pk = wasmsign2::PublicKey::from_bytes(&pair.public().to_bytes()).unwrap();
    wasmsign2::KeyPair { pk, sk }
}

/// What `wasmsign2 sign -k KEY -K PUB` writes: `sign_multi` with the key's default id.
fn wasmsign2_sign(wasm: &[u8], kp: &wasmsign2::KeyPair) -> Vec<u8> {
    let module = wasmsign2::Module::deserialize(&mut Cursor::new(wasm)).unwrap();
    let pk = kp.pk.clone().attach_default_key_id();
    let (signed, _) = kp.sk.sign_multi(module, pk.key_id(), false, false).unwrap();
    let mut out = Vec::new();
    signed.serialize(&mut out).unwrap();
    out
}

/// What `wasmsign2 verify -K PUB` does: the key from its file, with its default id.
fn wasmsign2_verifies(wasm: &[u8], pk: &wasmsign2::PublicKey) -> bool {
    let pk = pk.clone().attach_default_key_id();
    pk.verify(&mut Cursor::new(wasm), None).is_ok()
}

fn trusted(pk_file: &[u8]) -> TrustedKey {
    TrustedKey {
        name: "vendor".into(),
        key: PublicKey::from_file_bytes(pk_file).unwrap(),
    }
}

#[test]
fn files_wasmsign2_signs_verify_here_with_its_public_key_file() {
    let kp = wasmsign2::KeyPair::generate();
    for (what, wasm) in inputs() {
        let signed = wasmsign2_sign(&wasm, &kp);
        assert_loads(what, &signed);
        let key = trusted(&kp.pk.to_bytes()); // the bytes of `wasmsign2 keygen`'s public key file
        let Verdict::Signed { by } = verify(&signed, std::slice::from_ref(&key)) else {
            panic!("{what}: {:?}", verify(&signed, &[key]));
        };
        let id = kp
            .pk
            .clone()
            .attach_default_key_id()
            .key_id()
            .cloned()
            .unwrap();
        assert_eq!(by[0].key_id, hex::encode(id), "the same key id");

        // The simple `sign` (no key id) too, and a change is caught.
        let module = wasmsign2::Module::deserialize(&mut Cursor::new(&wasm)).unwrap();
        let mut plain = Vec::new();
        kp.sk
            .sign(module, None)
            .unwrap()
            .serialize(&mut plain)
            .unwrap();
        assert!(matches!(
            verify(&plain, std::slice::from_ref(&key)),
            Verdict::Signed { .. }
        ));
        *plain.last_mut().unwrap() ^= 1;
        assert!(matches!(verify(&plain, &[key]), Verdict::Tampered { .. }));
    }
}

#[test]
fn files_usersync_signs_verify_with_wasmsign2() {
    let pair = KeyPair::generate().unwrap();
    let pk = wasmsign2::PublicKey::from_bytes(&pair.public().to_bytes()).unwrap();
    for (what, wasm) in inputs() {
        let signed = sign(&wasm, &pair).unwrap();
        assert_loads(what, &signed);
        assert!(wasmsign2_verifies(&signed, &pk), "{what}");
        let mut set = wasmsign2::PublicKeySet::empty();
        set.insert(pk.clone()).unwrap();
        assert_eq!(
            set.verify(&mut Cursor::new(&signed), None).unwrap().len(),
            1
        );
        let mut changed = signed.clone();
        *changed.last_mut().unwrap() ^= 1;
        assert!(
            !wasmsign2_verifies(&changed, &pk),
            "{what}: change not caught"
        );
    }
}

#[test]
fn both_write_the_same_bytes_for_the_same_key_and_file() {
    let pair = KeyPair::generate().unwrap();
    let kp = theirs(&pair);
    for (what, wasm) in inputs() {
        let ours = sign(&wasm, &pair).unwrap();
        assert_eq!(ours, wasmsign2_sign(&wasm, &kp), "{what}: one signer");
        // A second vendor adds a signature the same way in both tools.
        let second = KeyPair::generate().unwrap();
        assert_eq!(
            sign(&ours, &second).unwrap(),
            wasmsign2_sign(&ours, &theirs(&second)),
            "{what}: two signers"
        );
    }
}

#[test]
fn a_file_signed_by_both_tools_names_both_signers() {
    let (ours, vendor) = (KeyPair::generate().unwrap(), wasmsign2::KeyPair::generate());
    let once = wasmsign2_sign(&component(), &vendor);
    let twice = sign(&once, &ours).unwrap();
    let keys = [
        trusted(&vendor.pk.to_bytes()),
        TrustedKey {
            name: "ours".into(),
            key: ours.public(),
        },
    ];
    let Verdict::Signed { by } = verify(&twice, &keys) else {
        panic!("{:?}", verify(&twice, &keys));
    };
    assert_eq!(by.len(), 2);
    assert!(wasmsign2_verifies(&twice, &vendor.pk));
    // A wasmsign2 secret key file signs here as well (0x81 ‖ secret ‖ public).
    let from_file = KeyPair::from_bytes(&vendor.sk.to_bytes()).unwrap();
    assert_eq!(from_file.public().to_bytes(), vendor.pk.to_bytes());
}
