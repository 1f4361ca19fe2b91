use arbytron_sdk::prelude::*;

pub struct CrossVenueBinary;

impl Strategy for CrossVenueBinary {
    const NAME: &'static str = "cross-venue-binary";
    const VERSION: &'static str = "0.1.0";
    const CAPABILITIES: Capabilities = Capabilities { score: true, ..Capabilities::NONE };
    fn init(_params: &Params) -> Result<Self, String> {
        Ok(CrossVenueBinary)
    }
}

arbytron_sdk::export_strategy!(CrossVenueBinary);
