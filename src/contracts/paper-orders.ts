// Paper-order commands: what the gateway's Alpaca-compatible API (`/paper/v2/…`) appends to a user's partition and
// what the account actor (MBT) decides. Field names follow Alpaca's order request so a request body maps 1:1.
import { z } from 'zod';
import { mbt } from '../domain/index.js';

/** Envelope `type`s of the paper-order commands. */
export const ORDER_COMMAND_TYPES = {
  submit: 'order.submit',
  cancel: 'order.cancel',
  replace: 'order.replace',
  cancelAll: 'order.cancel_all',
} as const;
export type OrderCommandType = (typeof ORDER_COMMAND_TYPES)[keyof typeof ORDER_COMMAND_TYPES];

const orderId = z.uuid();
const clientOrderId = z.string().min(1).max(128);

/**
 * `order.submit`: the client's Alpaca order request (the engine's order fields), with the ids the gateway assigned
 * (the order id always; the client_order_id when the client sent none), so every id is a function of the command
 * log. Values stay loose strings: the engine validates them and answers with Alpaca's status, code and message.
 */
export const orderSubmitPayloadSchema = z.strictObject({ order: mbt.orderRequestSchema.extend({ id: orderId }) });

export const orderCancelPayloadSchema = z.strictObject({ order_id: orderId });

/** `order.replace` (Alpaca `PATCH /v2/orders/{id}`): the replacement gets `new_order_id`, assigned by the gateway. */
export const orderReplacePayloadSchema = z.strictObject({
  order_id: orderId,
  new_order_id: orderId,
  patch: z.strictObject({
    qty: z.string().optional(),
    time_in_force: z.string().optional(),
    limit_price: z.string().optional(),
    stop_price: z.string().optional(),
    client_order_id: clientOrderId,
  }),
});

export const orderCancelAllPayloadSchema = z.strictObject({});

export type OrderSubmitPayload = z.infer<typeof orderSubmitPayloadSchema>;
export type OrderCancelPayload = z.infer<typeof orderCancelPayloadSchema>;
export type OrderReplacePayload = z.infer<typeof orderReplacePayloadSchema>;

/**
 * What the actor stores as the decision of an order command (processed_commands.result), and what the gateway turns
 * into the HTTP answer:
 * - accepted: `{order}` (submit, replace: the new order; cancel: the order, now pending/canceled) or `{orders}`
 *   (cancel_all: one entry per order it canceled), each in Alpaca's order JSON shape; `duplicate: true` when a
 *   resubmit with a known client_order_id and the same payload changed nothing.
 * - rejected: decision `code` = `alpaca_<code>` and result `{status, code, message}`: Alpaca's HTTP status, numeric
 *   error code and message (e.g. 403 / 40310000 / "insufficient buying power").
 */
export const orderRejectionSchema = z.object({ status: z.number().int(), code: z.number().int(), message: z.string() });
export type OrderRejection = z.infer<typeof orderRejectionSchema>;
export const orderRejectionCode = (code: number) => `alpaca_${code}`;
