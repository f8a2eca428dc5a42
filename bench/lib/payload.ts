/** The 100-byte body every scenario answers with. */
export const BODY_100 = new Uint8Array(100).fill(0x61);
/** Its text form. */
export const TEXT_100 = "a".repeat(100);
