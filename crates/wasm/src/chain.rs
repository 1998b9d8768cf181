//! The network as a wallet meets it: the config's token, amounts, and the instructions a
//! wallet signs, built by the SDK (`tessera_sdk::ix`, with its PDAs) exactly as the CLI builds
//! them. Instructions leave as `{programAddress, accounts: [{address, role}], data}`, the shape
//! of an `@solana/kit` instruction (role: 0 read, 1 write, 2 read+sign, 3 write+sign).
use std::str::FromStr;

use anyhow::{anyhow, Context, Result};
use serde::Serialize;
use solana_sdk::{instruction::Instruction, pubkey::Pubkey};
use tessera::state::Config;
use tessera_jobs::jobspec::JobSpec;
use tessera_sdk::ix::{self, TokenCtx};
use tessera_sdk::{accounts, pda, units};
use wasm_bindgen::prelude::*;

use crate::{js_err, to_js};

fn key(s: &str, what: &str) -> Result<Pubkey> {
    Pubkey::from_str(s.trim()).map_err(|_| anyhow!("{what} `{s}` is not a base58 address"))
}

fn u64_of(s: &str, what: &str) -> Result<u64> {
    s.trim()
        .parse()
        .map_err(|_| anyhow!("{what} `{s}` is not a whole number"))
}

/// An instruction in `@solana/kit`'s shape.
#[derive(Serialize, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct KitInstruction {
    pub program_address: String,
    pub accounts: Vec<KitAccount>,
    #[serde(with = "serde_bytes")]
    pub data: Vec<u8>,
}

/// One account of a [`KitInstruction`].
#[derive(Serialize, Debug, PartialEq)]
pub struct KitAccount {
    pub address: String,
    /// `@solana/kit`'s `AccountRole`: bit 1 signer, bit 0 writable.
    pub role: u8,
}

impl From<Instruction> for KitInstruction {
    fn from(ix: Instruction) -> Self {
        KitInstruction {
            program_address: ix.program_id.to_string(),
            accounts: ix
                .accounts
                .iter()
                .map(|m| KitAccount {
                    address: m.pubkey.to_string(),
                    role: (u8::from(m.is_signer) << 1) | u8::from(m.is_writable),
                })
                .collect(),
            data: ix.data,
        }
    }
}

/// The network a page talks to, read from its config account and its token's mint.
#[wasm_bindgen]
pub struct Network {
    token: TokenCtx,
    decimals: u8,
}

impl Network {
    /// From the raw config and mint accounts.
    pub fn from_accounts(config_data: &[u8], mint_data: &[u8]) -> Result<Network> {
        let config: Config = accounts::decode("Config", config_data)?;
        let decimals = tessera_sdk::token::decimals_of(mint_data)
            .context("the config's mint account is not a token mint")?;
        Ok(Network {
            token: TokenCtx::from_config(&config),
            decimals,
        })
    }

    /// The `post_job` instruction for `spec` (a job file as JSON: kernel, price, replicas,
    /// market, …) whose input blob hashes to `input_hash` and lives at `input_uri`; with the
    /// tokens it moves into escrow (base units).
    pub fn post_job(
        &self,
        client: &str,
        spec_json: &str,
        job_id: u64,
        input_hash: &str,
        input_uri: &str,
        now: i64,
    ) -> Result<(KitInstruction, u64)> {
        let client = key(client, "client")?;
        let spec: JobSpec = serde_json::from_str(spec_json).context("the job does not parse")?;
        let hash = tessera_sdk::blob_id::parse_hash(input_hash)?;
        let args = spec.post_args(job_id, hash, input_uri.to_string(), self.decimals, now)?;
        let deposit = tessera::state::JobCore::budget_slots(args.replicas, args.max_escalations)
            .ok()
            .and_then(|slots| args.price_per_replica.checked_mul(u64::from(slots)))
            .context("the price times the replicas overflows")?;
        Ok((ix::post_job(&self.token, &client, args).into(), deposit))
    }
}

#[wasm_bindgen]
impl Network {
    /// From the raw config and mint accounts (`getAccountInfo` data).
    #[wasm_bindgen(constructor)]
    pub fn new(config_data: &[u8], mint_data: &[u8]) -> Result<Network, JsError> {
        Network::from_accounts(config_data, mint_data).map_err(js_err)
    }

    /// The network token's mint.
    #[wasm_bindgen(getter)]
    pub fn mint(&self) -> String {
        self.token.mint.to_string()
    }

    /// The token program the mint belongs to (SPL Token or Token-2022).
    #[wasm_bindgen(getter, js_name = tokenProgram)]
    pub fn token_program(&self) -> String {
        self.token.token_program.to_string()
    }

    /// Decimals of the token.
    #[wasm_bindgen(getter)]
    pub fn decimals(&self) -> u8 {
        self.decimals
    }

    /// The associated token account of `owner`.
    #[wasm_bindgen(js_name = tokenAccount)]
    pub fn token_account(&self, owner: &str) -> Result<String, JsError> {
        Ok(self
            .token
            .ata(&key(owner, "owner").map_err(js_err)?)
            .to_string())
    }

    /// Base units (a decimal string, any size) as tokens: `"1500000"` → `"1.5"` (6 decimals).
    #[wasm_bindgen(js_name = formatAmount)]
    pub fn format_amount(&self, units: &str) -> Result<String, JsError> {
        let u = u64_of(units, "amount").map_err(js_err)?;
        Ok(units::format_amount(u, self.decimals))
    }

    /// Tokens as base units (a decimal string): `"1.5"` → `"1500000"`.
    #[wasm_bindgen(js_name = parseAmount)]
    pub fn parse_amount(&self, tokens: &str) -> Result<String, JsError> {
        Ok(units::parse_amount(tokens, self.decimals)
            .map_err(js_err)?
            .to_string())
    }

    /// `{instruction, deposit}`: the `post_job` instruction (see [`Network::post_job`]) and
    /// the tokens it escrows, in base units (a decimal string). `job_id` is a decimal string.
    #[wasm_bindgen(js_name = postJob)]
    pub fn post_job_js(
        &self,
        client: &str,
        spec_json: &str,
        job_id: &str,
        input_hash: &str,
        input_uri: &str,
        now: f64,
    ) -> Result<JsValue, JsError> {
        let id = u64_of(job_id, "job id").map_err(js_err)?;
        let (instruction, deposit) = self
            .post_job(client, spec_json, id, input_hash, input_uri, now as i64)
            .map_err(js_err)?;
        #[derive(Serialize)]
        struct Posted {
            instruction: KitInstruction,
            deposit: String,
        }
        to_js(&Posted {
            instruction,
            deposit: deposit.to_string(),
        })
    }

    /// `cancel_job`: the client takes back an unclaimed job's whole escrow.
    #[wasm_bindgen(js_name = cancelJob)]
    pub fn cancel_job(&self, client: &str, job: &str) -> Result<JsValue, JsError> {
        let (c, j) = (key(client, "client"), key(job, "job"));
        to_js(&KitInstruction::from(ix::cancel_job(
            &self.token,
            &c.map_err(js_err)?,
            &j.map_err(js_err)?,
        )))
    }

    /// `close_job`: a finished job's account and escrow closed, the rest refunded.
    #[wasm_bindgen(js_name = closeJob)]
    pub fn close_job(&self, client: &str, job: &str) -> Result<JsValue, JsError> {
        let (c, j) = (key(client, "client"), key(job, "job"));
        to_js(&KitInstruction::from(ix::close_job(
            &self.token,
            &c.map_err(js_err)?,
            &j.map_err(js_err)?,
        )))
    }

    /// `stake`: `amount` tokens (a decimal string) more behind the operator's node.
    pub fn stake(&self, operator: &str, amount: &str) -> Result<JsValue, JsError> {
        let op = key(operator, "operator").map_err(js_err)?;
        let a = units::parse_amount(amount, self.decimals).map_err(js_err)?;
        to_js(&KitInstruction::from(ix::stake(&self.token, &op, a)))
    }

    /// `request_unstake`: start unbonding `amount` tokens.
    #[wasm_bindgen(js_name = requestUnstake)]
    pub fn request_unstake(&self, operator: &str, amount: &str) -> Result<JsValue, JsError> {
        let op = key(operator, "operator").map_err(js_err)?;
        let a = units::parse_amount(amount, self.decimals).map_err(js_err)?;
        to_js(&KitInstruction::from(ix::request_unstake(&op, a)))
    }

    /// `withdraw_stake`: take back what has finished unbonding.
    #[wasm_bindgen(js_name = withdrawStake)]
    pub fn withdraw_stake(&self, operator: &str) -> Result<JsValue, JsError> {
        let op = key(operator, "operator").map_err(js_err)?;
        to_js(&KitInstruction::from(ix::withdraw_stake(&self.token, &op)))
    }
}

/// The config account's address.
#[wasm_bindgen(js_name = configAddress)]
pub fn config_address() -> String {
    pda::config().0.to_string()
}

/// The node account of an operator.
#[wasm_bindgen(js_name = nodeAddress)]
pub fn node_address(operator: &str) -> Result<String, JsError> {
    Ok(pda::node(&key(operator, "operator").map_err(js_err)?)
        .0
        .to_string())
}

/// A job account's address (`job_id`: a decimal string).
#[wasm_bindgen(js_name = jobAddress)]
pub fn job_address(client: &str, job_id: &str) -> Result<String, JsError> {
    let c = key(client, "client").map_err(js_err)?;
    let id = u64_of(job_id, "job id").map_err(js_err)?;
    Ok(pda::job(&c, id).0.to_string())
}

/// A fresh job id for `client`, from the time (microseconds): the CLI's choice; the page
/// checks the account is free and asks again with `start + 1` if not.
#[wasm_bindgen(js_name = fastJobId)]
pub fn fast_job_id(client: &str, start: &str) -> Result<String, JsError> {
    let c = key(client, "client").map_err(js_err)?;
    let s = u64_of(start, "start").map_err(js_err)?;
    Ok(pda::fast_job_id(&c, s).to_string())
}

/// The message a wallet signs (`solana:signMessage`) to upload a blob of `size` bytes to a
/// Tessera blob server until `expiry` (unix seconds), and the header names it travels in.
#[wasm_bindgen(js_name = uploadMessage)]
pub fn upload_message(hash: &str, size: f64, expiry: f64) -> Result<JsValue, JsError> {
    use tessera_sdk::blob_auth as auth;
    let h = tessera_sdk::blob_id::parse_hash(hash).map_err(js_err)?;
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct M {
        #[serde(with = "serde_bytes")]
        message: Vec<u8>,
        signer_header: &'static str,
        expiry_header: &'static str,
        signature_header: &'static str,
    }
    to_js(&M {
        message: auth::message(&h, size as u64, expiry as u64).into_bytes(),
        signer_header: auth::SIGNER_HEADER,
        expiry_header: auth::EXPIRY_HEADER,
        signature_header: auth::SIGNATURE_HEADER,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_follow_kit() {
        let t = TokenCtx {
            mint: Pubkey::new_unique(),
            token_program: Pubkey::new_unique(),
            treasury: Pubkey::new_unique(),
        };
        let client = Pubkey::new_unique();
        let job = pda::job(&client, 7).0;
        let k = KitInstruction::from(ix::cancel_job(&t, &client, &job));
        assert_eq!(k.program_address, tessera_sdk::PROGRAM_ID.to_string());
        // the client signs (the fee payer's role makes it writable), the config is read, the
        // job written
        assert_eq!(k.accounts[0].address, client.to_string());
        assert_eq!(k.accounts[0].role, 2);
        assert_eq!(k.accounts[1].role, 0);
        assert_eq!(k.accounts[2].role, 1);
    }
}

/// The cluster's unix time from the Clock sysvar's data (what `post_job` deadlines count from).
#[wasm_bindgen(js_name = clockUnixTimestamp)]
pub fn clock_unix_timestamp(clock_data: &[u8]) -> Result<f64, JsError> {
    accounts::clock_unix_timestamp(clock_data)
        .map(|t| t as f64)
        .ok_or_else(|| JsError::new("the Clock sysvar's data is too short"))
}
