/** Where nestbox-enter (nestbox-enter.c) is, in a checkout or the single executable. */
import { helperBinary } from '../../core/native.ts'

export const ENTER_SOURCE = 'lib/capsules/runtime/nestbox-enter.c'
export const enterHelperPath = (): string => helperBinary('nestbox-enter', ENTER_SOURCE)
