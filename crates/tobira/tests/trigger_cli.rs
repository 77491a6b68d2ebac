//! `tobira trigger`: fires a realistic event at a real (Node.js) handler and prints its answer.

mod common;

use std::process::Command;

#[test]
fn tobira_trigger_fires_a_sample_event_and_prints_the_answer() {
    let dir = common::TempDir::new("trigger-cli");
    let fn_dir = dir.path().join("functions").join("greet");
    std::fs::create_dir_all(&fn_dir).unwrap();
    std::fs::write(
        fn_dir.join("index.mjs"),
        "export const handler = async (event) => { event.response.autoConfirmUser = event.request.userAttributes.email.endsWith('@example.com'); event.response.seen = event.triggerSource; return event; };\n",
    )
    .unwrap();
    let run = |source: &str, function: &str| {
        Command::new(env!("CARGO_BIN_EXE_tobira"))
            .args(["trigger", function, "--source", source, "--data-dir"])
            .arg(dir.path().join("data"))
            .arg("--functions-dir")
            .arg(dir.path().join("functions"))
            .output()
            .expect("run tobira trigger")
    };
    let out = run("PreSignUp_SignUp", "greet");
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(answer["triggerSource"], "PreSignUp_SignUp");
    assert_eq!(answer["response"]["autoConfirmUser"], true);
    assert_eq!(answer["response"]["seen"], "PreSignUp_SignUp");
    assert_eq!(answer["request"]["userAttributes"]["email"], "jane@example.com");

    let missing = run("PreSignUp_SignUp", "nothing-here");
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("the function failed"), "{}", String::from_utf8_lossy(&missing.stderr));
    let bad_source = run("NoSuch_Source", "greet");
    assert!(!bad_source.status.success());
    assert!(String::from_utf8_lossy(&bad_source.stderr).contains("unknown trigger source"));
}
