//! `footfall token`: create, list and revoke API tokens in the database. The secret is
//! printed once on creation and never stored (only its hash is).

use super::analysis::open_existing;
use crate::cli::{TokenAction, TokenArgs, TokenRole};
use crate::output::Table;
use footfall_store::tokens::Role;

pub fn run(a: TokenArgs) -> anyhow::Result<()> {
    match a.action {
        TokenAction::Create(c) => {
            let store = open_existing(&c.db.db)?;
            let role = match c.role {
                TokenRole::Operator => Role::Operator,
                TokenRole::Retailer => Role::Retailer,
                TokenRole::Sensor => Role::Sensor,
            };
            let t = store.create_token(role, &c.stores, &c.label, super::now_ms())?;
            eprintln!(
                "created {} token {}{}; it is shown only now, keep it secret:",
                role.name(),
                t.info.id,
                if c.stores.is_empty() { String::new() } else { format!(" for {}", c.stores.join(", ")) }
            );
            crate::output::print(&format!("{}\n", t.token))
        }
        TokenAction::List(l) => {
            let store = open_existing(&l.db)?;
            let mut t = Table::new(["id", "role", "stores", "label", "created"]);
            for info in store.list_tokens()? {
                t.row([
                    info.id,
                    info.role.name().to_string(),
                    info.stores.join(","),
                    info.label,
                    footfall_core::time::format_rfc3339(info.created_ms),
                ]);
            }
            crate::output::print(&t.render())
        }
        TokenAction::Revoke(r) => {
            let store = open_existing(&r.db.db)?;
            store.revoke_token(&r.id)?;
            eprintln!("revoked token {}", r.id);
            Ok(())
        }
    }
}
