//! What we meant by each order we sent (side and action), since Kalshi's V2
//! vocabulary folds "sell YES" and "buy NO" into one `ask`.

use std::collections::HashMap;

use arbytron_model::Side;
use arbytron_model::venue::Action;
use parking_lot::Mutex;

#[derive(Default, Debug)]
pub struct Intents {
    by_client_id: Mutex<HashMap<String, (Side, Action)>>,
    by_order_id: Mutex<HashMap<String, (Side, Action)>>,
}

impl Intents {
    pub fn record_client(&self, client_order_id: &str, intent: (Side, Action)) {
        self.by_client_id.lock().insert(client_order_id.to_string(), intent);
    }

    pub fn record_order(&self, order_id: &str, intent: (Side, Action)) {
        self.by_order_id.lock().insert(order_id.to_string(), intent);
    }

    pub fn lookup(&self, order_id: Option<&str>, client_order_id: Option<&str>) -> Option<(Side, Action)> {
        if let Some(i) = order_id.and_then(|id| self.by_order_id.lock().get(id).copied()) {
            return Some(i);
        }
        client_order_id.and_then(|id| self.by_client_id.lock().get(id).copied())
    }
}
