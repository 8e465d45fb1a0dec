//! `usersync verify-password`: read the password without echoing it (or
//! from stdin for scripts) and print the directory's verdict.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};

use crate::sync::PasswordCheck;

pub fn read_password(username: &str, from_stdin: bool) -> Result<String> {
    let password = if from_stdin || !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from stdin")?;
        line.trim_end_matches(['\r', '\n']).to_string()
    } else {
        rpassword::prompt_password(format!("Password for {username}: "))
            .context("cannot read the password from the terminal")?
    };
    if password.is_empty() {
        bail!("no password given (an empty password would be an anonymous bind)");
    }
    Ok(password)
}

pub fn report(check: &PasswordCheck, json: bool) -> Result<ExitCode> {
    if json {
        outln!("{}", serde_json::to_string_pretty(check)?)?;
    } else if check.valid {
        outln!("ok: {}", check.reason)?;
    } else {
        outln!("refused: {}", check.reason)?;
    }
    Ok(if check.valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
