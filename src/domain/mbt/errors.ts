// Alpaca-style rejections in one place, so every caller (engine, HTTP API, replay) shows the same status, code and text.
import type { ApiError } from './outputs.js';

/** Malformed or unknown values (Alpaca answers 422 with 40010001). */
export const invalid = (message: string): ApiError => ({ status: 422, code: 40010001, message });
/** Well-formed but not allowed (sub-penny, fractional rules, extended-hours rules, unsupported TIF). */
export const unprocessable = (message: string): ApiError => ({ status: 422, code: 42210000, message });
/** Account rules: buying power, qty available, shorting, wash trades. */
export const forbidden = (message: string): ApiError => ({ status: 403, code: 40310000, message });
export const notFound = (message: string): ApiError => ({ status: 404, code: 40410000, message });

export const INSUFFICIENT_BUYING_POWER = 'insufficient buying power';
export const WASH_TRADE = 'potential wash trade detected. use complex orders';
