//! `auth ACCOUNT [--token T]`: connect a Threads account; the flow itself is `crate::auth`.

use crate::cli::AuthArgs;
use crate::config::Settings;
use anyhow::Result;
use std::io::Write;

pub async fn auth(settings: &Settings, args: AuthArgs, out: &mut (dyn Write + Send)) -> Result<()> {
    let token = args.token.map(secrecy::SecretString::from);
    // `Stdin` (not its lock) keeps this future `Send`.
    let mut input = std::io::BufReader::new(std::io::stdin());
    let mut out = out;
    crate::auth::run(settings, &args.account, token, &mut input, &mut out).await?;
    Ok(())
}
